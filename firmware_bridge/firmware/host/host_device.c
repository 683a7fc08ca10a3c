/* The firmware core running on a PC: the same fb_device/debounce/classifier code as the
 * board, with stdin/stdout as the serial line (the Python tests connect it to a
 * pseudo-terminal) and button levels taken from a script instead of GPIO pins.
 *
 * Usage: host_device 'CMD; CMD; ...'   with CMD one of
 *   wait MS | ptt 0|1 | func 0|1 (raw pin level, debounced like a real pin)
 *   volume N | swap | expect host | expect state NAME | expect pair TEXT | expect volume N
 * An expect that is not met within 3 s exits with status 3. Changes are logged to stderr.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fb_device.h"

#define EXPECT_TIMEOUT_MS 3000u

static const char *STATE_NAMES[] = {"idle", "listening", "thinking", "speaking", "error"};

static uint32_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void write_all(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; /* nobody on the line: like a UART with no one listening */
        }
        data += n;
        len -= (size_t)n;
    }
}

static bool expectation_met(const fb_device_t *d, const char *what, const char *arg) {
    if (!strcmp(what, "host")) return d->host_up;
    if (!strcmp(what, "state"))
        return d->host_up && d->have_state && d->engine_state <= FB_STATE_ERROR &&
               !strcmp(STATE_NAMES[d->engine_state], arg);
    if (!strcmp(what, "pair")) return !strcmp(d->lang_pair, arg);
    if (!strcmp(what, "volume")) return d->have_volume && d->volume == atoi(arg);
    fprintf(stderr, "unknown expectation %s\n", what);
    exit(2);
}

static void log_changes(const fb_device_t *d, fb_device_t *shown) {
    if (d->host_up != shown->host_up) fprintf(stderr, "host %s\n", d->host_up ? "up" : "lost");
    if (d->have_state && (!shown->have_state || d->engine_state != shown->engine_state))
        fprintf(stderr, "state %s\n", STATE_NAMES[d->engine_state]);
    if (strcmp(d->lang_pair, shown->lang_pair)) fprintf(stderr, "pair %s\n", d->lang_pair);
    if (d->have_volume && (!shown->have_volume || d->volume != shown->volume))
        fprintf(stderr, "volume %u\n", d->volume);
    *shown = *d;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s 'CMD; CMD; ...'\n", argv[0]);
        return 2;
    }
    static fb_device_t device, shown;
    fb_hello_t hello = {1, 0, 0, 8, "host-device"};
    uint32_t start = now_ms();
    fb_device_init(&device, &hello, (fb_port_t){write_all, NULL}, start);
    shown = device;
    fb_debounce_t pins[2];
    bool levels[2] = {false, false};
    fb_debounce_init(&pins[FB_BUTTON_PTT], false, start);
    fb_debounce_init(&pins[FB_BUTTON_FUNC], false, start);

    char *script = argv[1];
    char *saveptr = NULL;
    char *command = strtok_r(script, ";", &saveptr);
    uint32_t step_started = start;
    while (command != NULL) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        if (poll(&pfd, 1, 1) > 0 && (pfd.revents & POLLIN)) {
            uint8_t buf[256];
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n > 0) fb_device_receive(&device, buf, (size_t)n, now_ms());
        }
        uint32_t now = now_ms();
        for (uint8_t b = 0; b < 2; b++) {
            fb_edge_t edge = fb_debounce_update(&pins[b], levels[b], now);
            if (edge != FB_EDGE_NONE) fb_device_button(&device, b, edge, now);
        }
        fb_device_tick(&device, now);
        log_changes(&device, &shown);

        char verb[16] = "", arg[32] = "", arg2[32] = "";
        sscanf(command, "%15s %31s %31s", verb, arg, arg2);
        bool done = true;
        if (!strcmp(verb, "wait")) {
            done = now - step_started >= (uint32_t)atoi(arg);
        } else if (!strcmp(verb, "ptt") || !strcmp(verb, "func")) {
            levels[verb[0] == 'p' ? FB_BUTTON_PTT : FB_BUTTON_FUNC] = atoi(arg) != 0;
        } else if (!strcmp(verb, "volume") || !strcmp(verb, "swap")) {
            fb_msg_t msg = {.type = verb[0] == 'v' ? FB_MSG_VOLUME : FB_MSG_LANG_SWAP};
            msg.u.volume = (uint8_t)atoi(arg);
            fb_device_send(&device, &msg, now);
        } else if (!strcmp(verb, "expect")) {
            done = expectation_met(&device, arg, arg2);
            if (!done && now - step_started >= EXPECT_TIMEOUT_MS) {
                fprintf(stderr, "timed out: expect %s %s\n", arg, arg2);
                return 3;
            }
        } else if (verb[0] != '\0') {
            fprintf(stderr, "unknown command %s\n", verb);
            return 2;
        }
        if (done) {
            command = strtok_r(NULL, ";", &saveptr);
            step_started = now;
        }
    }
    fprintf(stderr, "script done, %lu bad frames received\n", (unsigned long)device.rx_errors);
    return 0;
}
