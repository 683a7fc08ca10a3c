#include "fb_device.h"

#include <string.h>

#include "fb_led.h"

static void write_frame(fb_device_t *d, const fb_msg_t *msg) {
    uint8_t wire[FB_MAX_WIRE];
    size_t n = fb_msg_encode(msg, d->tx_seq++, wire);
    d->port.write(d->port.ctx, wire, n);
}

static void send_next(fb_device_t *d, uint32_t now_ms) {
    if (d->in_flight || d->queue_count == 0) return;
    d->in_flight_msg = d->queue[d->queue_head];
    d->queue_head = (uint8_t)((d->queue_head + 1u) % FB_EVENT_QUEUE_MAX);
    d->queue_count--;
    d->in_flight = true;
    d->in_flight_seq = d->tx_seq;
    d->in_flight_len = fb_msg_encode(&d->in_flight_msg, d->tx_seq++, d->in_flight_wire);
    d->in_flight_sent_ms = now_ms;
    d->in_flight_tries = 1;
    d->port.write(d->port.ctx, d->in_flight_wire, d->in_flight_len);
}

static void enqueue(fb_device_t *d, const fb_msg_t *msg, uint32_t now_ms) {
    if (!d->host_up && msg->type != FB_MSG_HELLO) return;
    if (d->queue_count == FB_EVENT_QUEUE_MAX) { /* drop the oldest */
        d->queue_head = (uint8_t)((d->queue_head + 1u) % FB_EVENT_QUEUE_MAX);
        d->queue_count--;
    }
    d->queue[(d->queue_head + d->queue_count) % FB_EVENT_QUEUE_MAX] = *msg;
    d->queue_count++;
    send_next(d, now_ms);
}

static void enqueue_hello(fb_device_t *d, uint32_t now_ms) {
    fb_msg_t msg = {.type = FB_MSG_HELLO};
    msg.u.hello = d->hello;
    enqueue(d, &msg, now_ms);
}

void fb_device_init(fb_device_t *d, const fb_hello_t *hello, fb_port_t port, uint32_t now_ms) {
    memset(d, 0, sizeof *d);
    d->port = port;
    d->hello = *hello;
    fb_decoder_init(&d->decoder);
    fb_press_init(&d->ptt, FB_PRESS_RAW);
    fb_press_init(&d->func, FB_PRESS_CLASSIFY);
    d->battery.percent = FB_BATTERY_PERCENT_UNKNOWN;
    d->battery.charging = FB_CHARGING_EXTERNAL_POWER;
    d->hello_due = true;
    d->last_heartbeat_ms = now_ms - FB_HEARTBEAT_INTERVAL_MS; /* first tick sends one */
    static const uint8_t flush = 0x00; /* ends whatever partial frame the host holds */
    d->port.write(d->port.ctx, &flush, 1);
    enqueue_hello(d, now_ms);
}

static void acknowledged(fb_device_t *d, uint8_t seq, uint32_t now_ms) {
    if (!d->in_flight || d->in_flight_seq != seq) return;
    if (d->in_flight_msg.type == FB_MSG_HELLO) d->hello_due = false;
    d->in_flight = false;
    send_next(d, now_ms);
}

static void host_came_up(fb_device_t *d, uint32_t now_ms) {
    d->host_up = true;
    if (d->hello_due) {
        /* Only a HELLO can be waiting (input is dropped while no host listens): send a
         * fresh one now rather than on the retransmission timer of a stale one. */
        d->queue_count = 0;
        d->in_flight = false;
        enqueue_hello(d, now_ms);
    }
    fb_msg_t battery = {.type = FB_MSG_BATTERY};
    battery.u.battery = d->battery;
    enqueue(d, &battery, now_ms);
}

static void apply(fb_device_t *d, const fb_msg_t *msg) {
    switch (msg->type) {
    case FB_MSG_STATE:
        d->engine_state = msg->u.state;
        d->have_state = true;
        break;
    case FB_MSG_LANG_PAIR:
        memcpy(d->lang_pair, msg->u.lang_pair, sizeof d->lang_pair);
        break;
    case FB_MSG_VOLUME:
        d->volume = msg->u.volume;
        d->have_volume = true;
        break;
    default:
        break;
    }
}

void fb_device_receive(fb_device_t *d, const uint8_t *data, size_t len, uint32_t now_ms) {
    for (size_t i = 0; i < len; i++) {
        fb_frame_t frame;
        fb_msg_t msg;
        fb_result_t r = fb_decoder_push(&d->decoder, data[i], &frame);
        if (r == FB_NONE) continue;
        if (r == FB_OK) r = fb_msg_parse(&frame, FB_DIR_HOST_TO_DEVICE, &msg);
        if (r != FB_OK) {
            d->rx_errors++;
            continue;
        }
        d->last_rx_ms = now_ms;
        /* Matched before the link-up check: the ACK of the boot HELLO is often the frame
         * that brings the link up, and must not cause a second HELLO. */
        if (msg.type == FB_MSG_ACK) acknowledged(d, msg.u.acked_seq, now_ms);
        if (!d->host_up) host_came_up(d, now_ms);
        if (msg.type == FB_MSG_ACK || msg.type == FB_MSG_HEARTBEAT) continue;
        fb_msg_t ack = {.type = FB_MSG_ACK};
        ack.u.acked_seq = frame.seq;
        write_frame(d, &ack);
        apply(d, &msg);
    }
}

static void send_gestures(fb_device_t *d, uint8_t button, const uint8_t *gestures, int n,
                          uint32_t now_ms) {
    for (int i = 0; i < n; i++) {
        fb_msg_t msg = {.type = FB_MSG_BUTTON};
        msg.u.button.button = button;
        msg.u.button.gesture = gestures[i];
        msg.u.button.t_ms = now_ms;
        enqueue(d, &msg, now_ms);
    }
}

void fb_device_tick(fb_device_t *d, uint32_t now_ms) {
    if ((uint32_t)(now_ms - d->last_heartbeat_ms) >= FB_HEARTBEAT_INTERVAL_MS) {
        fb_msg_t heartbeat = {.type = FB_MSG_HEARTBEAT};
        heartbeat.u.heartbeat_uptime_ms = now_ms;
        d->last_heartbeat_ms = now_ms;
        write_frame(d, &heartbeat);
    }
    if (d->in_flight &&
        (uint32_t)(now_ms - d->in_flight_sent_ms) >= FB_RETRANSMIT_INTERVAL_MS) {
        if (d->in_flight_tries >= FB_MAX_TRIES) {
            d->in_flight = false;
            send_next(d, now_ms);
        } else {
            d->in_flight_tries++;
            d->in_flight_sent_ms = now_ms;
            d->port.write(d->port.ctx, d->in_flight_wire, d->in_flight_len);
        }
    }
    uint8_t gestures[2];
    int n = fb_press_update(&d->func, now_ms, FB_EDGE_NONE, gestures);
    send_gestures(d, FB_BUTTON_FUNC, gestures, n, now_ms);
    if (d->host_up && (uint32_t)(now_ms - d->last_rx_ms) >= FB_LINK_TIMEOUT_MS) {
        d->host_up = false;
        d->hello_due = true;
        d->queue_count = 0;
        d->in_flight = false;
    }
}

void fb_device_button(fb_device_t *d, uint8_t button, fb_edge_t edge, uint32_t now_ms) {
    uint8_t gestures[2];
    fb_press_t *classifier = button == FB_BUTTON_PTT ? &d->ptt : &d->func;
    int n = fb_press_update(classifier, now_ms, edge, gestures);
    send_gestures(d, button, gestures, n, now_ms);
}

void fb_device_send(fb_device_t *d, const fb_msg_t *msg, uint32_t now_ms) {
    if (msg->type == FB_MSG_BATTERY) d->battery = msg->u.battery;
    if (msg->type == FB_MSG_VOLUME) { /* a local control changed it: show it at once */
        d->volume = msg->u.volume;
        d->have_volume = true;
    }
    enqueue(d, msg, now_ms);
}

uint8_t fb_device_led_state(const fb_device_t *d) {
    return (d->host_up && d->have_state) ? d->engine_state : FB_LED_NO_HOST;
}
