#!/usr/bin/env bash
# Debian packages the test suite needs: PortAudio headers to build PyAudio, and PulseAudio
# for the virtual sound card the live-mode device tests play into and record from.
# Chromium and its WebDriver: the kiosk screen's tests (tests/test_ui.py) drive it headless.
# libspeexdsp1: full duplex's linear echo canceller (edge/live/speexdsp.py, through ctypes).
set -euo pipefail
packages=(portaudio19-dev libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins gcc make
    chromium chromium-driver fonts-dejavu-core libspeexdsp1)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
