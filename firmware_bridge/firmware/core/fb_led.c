#include "fb_led.h"

#include "fb_protocol.h"

uint32_t fb_led_color(uint8_t led_state, uint32_t now_ms) {
    switch (led_state) {
    case FB_STATE_IDLE:
        return 0x002000u;
    case FB_STATE_LISTENING:
        return 0x0000FFu;
    case FB_STATE_THINKING:
        return (now_ms % 250u) < 125u ? 0x606000u : 0u;
    case FB_STATE_SPEAKING: {
        uint32_t phase = now_ms % 1000u; /* 0..999 -> brightness up for 500 ms, then down */
        uint32_t level = phase < 500u ? phase * 255u / 499u : (999u - phase) * 255u / 499u;
        return level << 8;
    }
    case FB_STATE_ERROR:
        return (now_ms % 200u) < 100u ? 0xFF0000u : 0u;
    default: /* FB_LED_NO_HOST, or a state this firmware does not know */
        return (now_ms % 1000u) < 100u ? 0x400000u : 0u;
    }
}
