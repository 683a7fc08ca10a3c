/* Device side of the link, independent of the board: the board feeds received bytes,
 * debounced button edges and a millisecond clock, and supplies a write function.
 *
 * Behaviour (PROTOCOL.md, "Link behaviour"): HELLO at boot and whenever the host link comes
 * back; a heartbeat every 500 ms; host lost after 2 s without a valid frame; one event in
 * flight at a time, retransmitted every 200 ms up to 5 tries; every host message except
 * HEARTBEAT and ACK is acknowledged; STATE, LANG_PAIR and VOLUME are mirrored for display.
 */
#ifndef FB_DEVICE_H
#define FB_DEVICE_H

#include "fb_input.h"
#include "fb_protocol.h"

#define FB_EVENT_QUEUE_MAX 8u

typedef struct {
    void (*write)(void *ctx, const uint8_t *data, size_t len);
    void *ctx;
} fb_port_t;

typedef struct {
    fb_port_t port;
    fb_hello_t hello;
    fb_decoder_t decoder;
    uint8_t tx_seq;

    fb_msg_t queue[FB_EVENT_QUEUE_MAX];
    uint8_t queue_head, queue_count;

    bool in_flight;
    fb_msg_t in_flight_msg;
    uint8_t in_flight_seq;
    uint8_t in_flight_wire[FB_MAX_WIRE];
    size_t in_flight_len;
    uint32_t in_flight_sent_ms;
    uint8_t in_flight_tries;

    bool hello_due;
    bool host_up;
    uint32_t last_rx_ms;
    uint32_t last_heartbeat_ms;

    /* Mirrored from the host. */
    bool have_state;
    uint8_t engine_state;
    char lang_pair[FB_LANG_PAIR_MAX + 1];
    bool have_volume;
    uint8_t volume;

    fb_battery_t battery; /* sent whenever the host link comes up */
    uint32_t rx_errors;   /* frames dropped: bad framing, CRC, version, type or payload */

    fb_press_t ptt, func;
} fb_device_t;

void fb_device_init(fb_device_t *d, const fb_hello_t *hello, fb_port_t port, uint32_t now_ms);
void fb_device_receive(fb_device_t *d, const uint8_t *data, size_t len, uint32_t now_ms);
/* Call at least every 10 ms: heartbeats, retransmissions, press timeouts, host loss. */
void fb_device_tick(fb_device_t *d, uint32_t now_ms);
/* A debounced edge of FB_BUTTON_PTT (sent as DOWN/UP) or FB_BUTTON_FUNC (classified). */
void fb_device_button(fb_device_t *d, uint8_t button, fb_edge_t edge, uint32_t now_ms);
/* Queue an event (LANG_SWAP, VOLUME, BATTERY, ERROR). Dropped while no host listens,
 * so that stale input is never replayed later. */
void fb_device_send(fb_device_t *d, const fb_msg_t *msg, uint32_t now_ms);
/* Engine state to show (FB_STATE_*), or FB_LED_NO_HOST. */
uint8_t fb_device_led_state(const fb_device_t *d);

#endif
