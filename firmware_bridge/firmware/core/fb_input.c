#include "fb_input.h"

#include "fb_protocol.h"

enum {
    PHASE_IDLE = 0,
    PHASE_PRESSED = 1,     /* first press held, not yet long */
    PHASE_RELEASED = 2,    /* short press released; a second press would make a DOUBLE */
    PHASE_SECOND_HELD = 3, /* DOUBLE reported, waiting for its release */
    PHASE_LONG_HELD = 4    /* LONG reported, waiting for release */
};

void fb_debounce_init(fb_debounce_t *d, bool pressed, uint32_t now_ms) {
    d->stable = pressed;
    d->candidate = pressed;
    d->since_ms = now_ms;
}

fb_edge_t fb_debounce_update(fb_debounce_t *d, bool raw_pressed, uint32_t now_ms) {
    if (raw_pressed != d->candidate) {
        d->candidate = raw_pressed;
        d->since_ms = now_ms;
    }
    if (d->candidate != d->stable && (uint32_t)(now_ms - d->since_ms) >= FB_DEBOUNCE_MS) {
        d->stable = d->candidate;
        return d->stable ? FB_EDGE_DOWN : FB_EDGE_UP;
    }
    return FB_EDGE_NONE;
}

void fb_press_init(fb_press_t *p, fb_press_mode_t mode) {
    p->mode = (uint8_t)mode;
    p->phase = PHASE_IDLE;
    p->since_ms = 0;
}

static int update_raw(fb_press_t *p, fb_edge_t edge, uint8_t out[2]) {
    if (edge == FB_EDGE_DOWN && p->phase == PHASE_IDLE) {
        p->phase = PHASE_PRESSED;
        out[0] = FB_GESTURE_DOWN;
        return 1;
    }
    if (edge == FB_EDGE_UP && p->phase == PHASE_PRESSED) {
        p->phase = PHASE_IDLE;
        out[0] = FB_GESTURE_UP;
        return 1;
    }
    return 0;
}

int fb_press_update(fb_press_t *p, uint32_t now_ms, fb_edge_t edge, uint8_t out[2]) {
    if (p->mode == FB_PRESS_RAW) return update_raw(p, edge, out);
    int n = 0;
    uint32_t elapsed = now_ms - p->since_ms;
    if (p->phase == PHASE_PRESSED && elapsed >= FB_LONG_PRESS_MS) {
        out[n++] = FB_GESTURE_LONG;
        p->phase = PHASE_LONG_HELD;
    } else if (p->phase == PHASE_RELEASED && elapsed >= FB_DOUBLE_GAP_MS) {
        out[n++] = FB_GESTURE_SHORT;
        p->phase = PHASE_IDLE;
    }
    if (edge == FB_EDGE_DOWN) {
        if (p->phase == PHASE_IDLE) {
            p->phase = PHASE_PRESSED;
            p->since_ms = now_ms;
        } else if (p->phase == PHASE_RELEASED) {
            out[n++] = FB_GESTURE_DOUBLE;
            p->phase = PHASE_SECOND_HELD;
        }
    } else if (edge == FB_EDGE_UP) {
        if (p->phase == PHASE_PRESSED) {
            p->phase = PHASE_RELEASED;
            p->since_ms = now_ms;
        } else if (p->phase == PHASE_SECOND_HELD || p->phase == PHASE_LONG_HELD) {
            p->phase = PHASE_IDLE;
        }
    }
    return n;
}
