/* LED pattern per engine state, as a pure function of time (so it is unit-testable). */
#ifndef FB_LED_H
#define FB_LED_H

#include <stdint.h>

/* Engine states 0..4 (fb_engine_state_t) plus the device's own "no host" state. */
#define FB_LED_NO_HOST 0xFFu

/* Colour as 0xRRGGBB at time now_ms:
 *   no host    red blink 1 Hz (100 ms on)      idle      dim green
 *   listening  solid blue                      thinking  yellow blink 4 Hz
 *   speaking   green pulse, 1 s triangle       error     red blink 5 Hz */
uint32_t fb_led_color(uint8_t led_state, uint32_t now_ms);

#endif
