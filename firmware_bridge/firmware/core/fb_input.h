/* Button input: debouncing raw pin levels, then classifying presses.
 *
 * Same state machine as firmware_bridge/press.py; test_vectors.txt pins the two together.
 * Times are milliseconds of a free-running uint32 clock; wrap-around is handled.
 */
#ifndef FB_INPUT_H
#define FB_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#define FB_DEBOUNCE_MS 20u
#define FB_DOUBLE_GAP_MS 250u
#define FB_LONG_PRESS_MS 1000u

typedef enum { FB_EDGE_NONE = 0, FB_EDGE_DOWN = 1, FB_EDGE_UP = 2 } fb_edge_t;

/* RAW: DOWN and UP as they happen (push-to-talk). CLASSIFY: SHORT, DOUBLE or LONG. */
typedef enum { FB_PRESS_RAW = 0, FB_PRESS_CLASSIFY = 1 } fb_press_mode_t;

typedef struct {
    bool stable;    /* debounced level: true = pressed */
    bool candidate; /* last raw level seen */
    uint32_t since_ms;
} fb_debounce_t;

typedef struct {
    uint8_t mode;
    uint8_t phase;
    uint32_t since_ms;
} fb_press_t;

void fb_debounce_init(fb_debounce_t *d, bool pressed, uint32_t now_ms);
/* Reports an edge once the raw level has differed from the debounced one for
 * FB_DEBOUNCE_MS without changing. */
fb_edge_t fb_debounce_update(fb_debounce_t *d, bool raw_pressed, uint32_t now_ms);

void fb_press_init(fb_press_t *p, fb_press_mode_t mode);
/* Timeouts first, then the edge (FB_EDGE_NONE for a plain tick). Writes up to two
 * fb_gesture_t values to out and returns how many. */
int fb_press_update(fb_press_t *p, uint32_t now_ms, fb_edge_t edge, uint8_t out[2]);

#endif
