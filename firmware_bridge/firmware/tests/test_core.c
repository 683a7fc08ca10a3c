/* Unit tests of the firmware core beyond the shared vectors: debouncing, LED patterns,
 * the device link logic, and a fuzz run of the decoder (built with ASan and UBSan). */
#include <stdio.h>
#include <string.h>

#include "fb_device.h"
#include "fb_input.h"
#include "fb_led.h"
#include "fb_protocol.h"

static int passed, failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            printf("%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, __func__, #cond); \
        }                                                                        \
    } while (0)

/* --- a host stand-in that records what the device writes --------------------------- */

typedef struct {
    fb_decoder_t dec;
    fb_msg_t msgs[64];
    uint8_t seqs[64];
    int count;
    int heartbeats; /* counted apart: they come on their own timer */
    int errors;
} capture_t;

static void capture_write(void *ctx, const uint8_t *data, size_t len) {
    capture_t *c = ctx;
    for (size_t i = 0; i < len; i++) {
        fb_frame_t frame;
        fb_result_t r = fb_decoder_push(&c->dec, data[i], &frame);
        if (r == FB_NONE) continue;
        fb_msg_t msg;
        if (r == FB_OK) r = fb_msg_parse(&frame, FB_DIR_DEVICE_TO_HOST, &msg);
        if (r != FB_OK) {
            c->errors++;
        } else if (msg.type == FB_MSG_HEARTBEAT) {
            c->heartbeats++;
        } else if (c->count < 64) {
            c->msgs[c->count] = msg;
            c->seqs[c->count++] = frame.seq;
        }
    }
}

static void capture_reset(capture_t *c) { c->count = 0; }

/* Number of captured messages of a type, and the index of the last one. */
static int count_of(const capture_t *c, uint8_t type, int *last) {
    int n = 0;
    for (int i = 0; i < c->count; i++) {
        if (c->msgs[i].type == type) {
            n++;
            if (last) *last = i;
        }
    }
    return n;
}

static void host_send(fb_device_t *d, const fb_msg_t *msg, uint8_t seq, uint32_t now) {
    uint8_t wire[FB_MAX_WIRE];
    size_t len = fb_msg_encode(msg, seq, wire);
    fb_device_receive(d, wire, len, now);
}

static void host_ack(fb_device_t *d, uint8_t acked, uint8_t seq, uint32_t now) {
    fb_msg_t ack = {.type = FB_MSG_ACK};
    ack.u.acked_seq = acked;
    host_send(d, &ack, seq, now);
}

static fb_hello_t test_hello(void) {
    fb_hello_t h = {1, 0, 0, 8, "test"};
    return h;
}

/* A device whose boot HELLO the host has acknowledged: link up, queue empty. */
static void connected_device(fb_device_t *d, capture_t *c) {
    memset(c, 0, sizeof *c);
    fb_decoder_init(&c->dec);
    fb_hello_t hello = test_hello();
    fb_device_init(d, &hello, (fb_port_t){capture_write, c}, 1000);
    host_ack(d, c->seqs[0], 0, 1001); /* acks HELLO; BATTERY follows */
    int last = 0;
    count_of(c, FB_MSG_BATTERY, &last);
    host_ack(d, c->seqs[last], 1, 1002);
    capture_reset(c);
}

/* --- tests ------------------------------------------------------------------------- */

static void test_debounce(void) {
    fb_debounce_t d;
    fb_debounce_init(&d, false, 0);
    /* Contact bounce for 6 ms, then held: one DOWN, 20 ms after the last bounce. */
    int downs = 0;
    uint32_t down_at = 0;
    for (uint32_t t = 1; t <= 100; t++) {
        bool raw = t < 7 ? (t % 2 == 1) : true;
        fb_edge_t e = fb_debounce_update(&d, raw, t);
        if (e == FB_EDGE_DOWN) {
            downs++;
            down_at = t;
        }
        CHECK(e != FB_EDGE_UP);
    }
    CHECK(downs == 1);
    CHECK(down_at == 27);
    /* A 15 ms glitch is ignored. */
    int edges = 0;
    for (uint32_t t = 101; t <= 200; t++)
        edges += fb_debounce_update(&d, !(t >= 150 && t < 165), t) != FB_EDGE_NONE;
    CHECK(edges == 0);
    /* Release across the uint32 wrap. */
    fb_debounce_init(&d, true, 0xFFFFFFF0u);
    fb_edge_t e = FB_EDGE_NONE;
    for (uint32_t t = 0xFFFFFFF0u; e == FB_EDGE_NONE && t != 0x20u; t++)
        e = fb_debounce_update(&d, false, t);
    CHECK(e == FB_EDGE_UP);
}

static void test_led(void) {
    for (uint32_t t = 0; t < 2000; t += 37) CHECK(fb_led_color(FB_STATE_LISTENING, t) == 0x0000FFu);
    CHECK(fb_led_color(FB_STATE_IDLE, 5) == 0x002000u);
    CHECK(fb_led_color(FB_STATE_THINKING, 10) != 0 && fb_led_color(FB_STATE_THINKING, 200) == 0);
    CHECK(fb_led_color(FB_STATE_ERROR, 50) == 0xFF0000u && fb_led_color(FB_STATE_ERROR, 150) == 0);
    CHECK(fb_led_color(FB_STATE_SPEAKING, 0) == 0 && fb_led_color(FB_STATE_SPEAKING, 499) == 0xFF00u);
    CHECK(fb_led_color(FB_STATE_SPEAKING, 999) == 0);
    CHECK(fb_led_color(FB_LED_NO_HOST, 50) == 0x400000u && fb_led_color(FB_LED_NO_HOST, 500) == 0);
}

static void test_boot_hello_and_retransmit(void) {
    capture_t c = {0};
    fb_device_t d;
    fb_decoder_init(&c.dec);
    fb_hello_t hello = test_hello();
    fb_device_init(&d, &hello, (fb_port_t){capture_write, &c}, 0);
    CHECK(c.count == 1 && c.msgs[0].type == FB_MSG_HELLO);
    CHECK(strcmp(c.msgs[0].u.hello.name, "test") == 0);
    CHECK(fb_device_led_state(&d) == FB_LED_NO_HOST);
    for (uint32_t t = 0; t <= 3000; t += 10) fb_device_tick(&d, t);
    /* Five tries in all, 200 ms apart, with the same sequence number. */
    CHECK(count_of(&c, FB_MSG_HELLO, NULL) == 5);
    for (int i = 0; i < c.count; i++)
        if (c.msgs[i].type == FB_MSG_HELLO) CHECK(c.seqs[i] == c.seqs[0]);
    CHECK(c.heartbeats == 7); /* t = 0, 500, ..., 3000 */
    CHECK(c.errors == 0);
    /* Host appears: its first frame brings a fresh HELLO at once. */
    capture_reset(&c);
    fb_msg_t hb = {.type = FB_MSG_HEARTBEAT};
    host_send(&d, &hb, 7, 3005);
    CHECK(d.host_up && c.count == 1 && c.msgs[0].type == FB_MSG_HELLO);
}

static void test_state_mirrored_and_acked(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    CHECK(d.host_up && !d.hello_due);
    fb_msg_t state = {.type = FB_MSG_STATE};
    state.u.state = FB_STATE_LISTENING;
    host_send(&d, &state, 42, 1100);
    CHECK(fb_device_led_state(&d) == FB_STATE_LISTENING);
    CHECK(c.count == 1 && c.msgs[0].type == FB_MSG_ACK && c.msgs[0].u.acked_seq == 42);
    fb_msg_t pair = {.type = FB_MSG_LANG_PAIR};
    strcpy(pair.u.lang_pair, "DE>FR");
    host_send(&d, &pair, 43, 1101);
    CHECK(strcmp(d.lang_pair, "DE>FR") == 0);
    fb_msg_t volume = {.type = FB_MSG_VOLUME};
    volume.u.volume = 35;
    host_send(&d, &volume, 44, 1102);
    CHECK(d.have_volume && d.volume == 35);
    /* A heartbeat is not acknowledged. */
    capture_reset(&c);
    fb_msg_t hb = {.type = FB_MSG_HEARTBEAT};
    host_send(&d, &hb, 45, 1103);
    CHECK(c.count == 0);
}

static void test_events_stop_and_wait(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    fb_device_button(&d, FB_BUTTON_PTT, FB_EDGE_DOWN, 2000);
    fb_device_button(&d, FB_BUTTON_PTT, FB_EDGE_UP, 2001);
    /* DOWN goes out at once; UP waits for DOWN's acknowledgement. */
    CHECK(c.count == 1 && c.msgs[0].type == FB_MSG_BUTTON);
    CHECK(c.msgs[0].u.button.gesture == FB_GESTURE_DOWN && c.msgs[0].u.button.t_ms == 2000);
    host_ack(&d, c.seqs[0], 9, 2002);
    CHECK(c.count == 2 && c.msgs[1].u.button.gesture == FB_GESTURE_UP);
    /* An ACK with another sequence number does not release the event in flight. */
    fb_msg_t swap = {.type = FB_MSG_LANG_SWAP};
    fb_device_send(&d, &swap, 2003);
    host_ack(&d, (uint8_t)(c.seqs[1] + 100), 10, 2004);
    CHECK(c.count == 2);
    fb_device_tick(&d, 2201); /* 199 ms after UP went out: not yet */
    CHECK(c.count == 2);
    fb_device_tick(&d, 2202); /* retransmitted after 200 ms, same seq */
    CHECK(c.count == 3 && c.seqs[2] == c.seqs[1]);
    host_ack(&d, c.seqs[1], 11, 2203);
    CHECK(c.count == 4 && c.msgs[3].type == FB_MSG_LANG_SWAP);
}

static void test_function_button_classified(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    fb_device_button(&d, FB_BUTTON_FUNC, FB_EDGE_DOWN, 1100);
    fb_device_button(&d, FB_BUTTON_FUNC, FB_EDGE_UP, 1180);
    for (uint32_t t = 1180; t < 1430; t++) fb_device_tick(&d, t);
    CHECK(count_of(&c, FB_MSG_BUTTON, NULL) == 0);
    fb_device_tick(&d, 1430);
    int last = -1;
    CHECK(count_of(&c, FB_MSG_BUTTON, &last) == 1);
    CHECK(last >= 0 && c.msgs[last].u.button.gesture == FB_GESTURE_SHORT);
    CHECK(last >= 0 && c.msgs[last].u.button.button == FB_BUTTON_FUNC);
}

static void test_host_lost_and_back(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    fb_msg_t state = {.type = FB_MSG_STATE};
    state.u.state = FB_STATE_SPEAKING;
    host_send(&d, &state, 50, 1500);
    for (uint32_t t = 1500; t < 3500; t += 10) fb_device_tick(&d, t);
    CHECK(d.host_up);
    fb_device_tick(&d, 3500); /* 2 s after the last valid host frame */
    CHECK(!d.host_up && fb_device_led_state(&d) == FB_LED_NO_HOST);
    /* Input while no host listens is dropped, not replayed later. */
    capture_reset(&c);
    fb_device_button(&d, FB_BUTTON_PTT, FB_EDGE_DOWN, 3600);
    CHECK(count_of(&c, FB_MSG_BUTTON, NULL) == 0);
    /* The host comes back: HELLO, then BATTERY after its ACK. */
    fb_msg_t hb = {.type = FB_MSG_HEARTBEAT};
    host_send(&d, &hb, 60, 3700);
    CHECK(d.host_up && c.count == 1 && c.msgs[0].type == FB_MSG_HELLO);
    host_ack(&d, c.seqs[0], 61, 3701);
    CHECK(c.count == 2 && c.msgs[1].type == FB_MSG_BATTERY && !d.hello_due);
}

static void test_garbage_then_frame(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    const uint8_t garbage[] = {0x13, 0x37, 0xFF, 0x00, 0x02, 0x00, 0x55, 0x55};
    fb_device_receive(&d, garbage, sizeof garbage, 1200);
    CHECK(d.rx_errors == 2);
    fb_msg_t state = {.type = FB_MSG_STATE};
    state.u.state = FB_STATE_THINKING;
    uint8_t wire[FB_MAX_WIRE];
    size_t len = fb_msg_encode(&state, 70, wire);
    fb_device_receive(&d, wire, len, 1201); /* joined to the trailing 0x55 0x55: lost */
    CHECK(d.rx_errors == 3 && !d.have_state);
    fb_device_receive(&d, wire, len, 1202); /* the retransmission gets through */
    CHECK(d.have_state && d.engine_state == FB_STATE_THINKING);
}

static void test_event_queue_bounded(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    fb_msg_t volume = {.type = FB_MSG_VOLUME};
    for (int i = 0; i < 20; i++) {
        volume.u.volume = (uint8_t)i;
        fb_device_send(&d, &volume, 4000);
    }
    CHECK(d.queue_count == FB_EVENT_QUEUE_MAX);
    /* The oldest were dropped: after the one in flight, the last eight remain. */
    host_ack(&d, c.seqs[0], 80, 4001);
    CHECK(c.msgs[1].type == FB_MSG_VOLUME && c.msgs[1].u.volume == 12);
    CHECK(d.volume == 19);
}

static uint32_t rng_state = 12345u;
static uint32_t rng(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* Random bytes with valid frames planted after a delimiter: nothing crashes (sanitizers
 * watch every access) and every planted frame is recovered. */
static void test_decoder_fuzz(void) {
    fb_decoder_t dec;
    fb_decoder_init(&dec);
    long planted = 0, recovered = 0, errors = 0;
    for (long round = 0; round < 100000; round++) {
        uint8_t noise[32];
        size_t n = rng() % sizeof noise;
        for (size_t i = 0; i < n; i++) {
            /* Mostly non-zero bytes so that long runs hit the oversize path too. */
            noise[i] = (rng() % 16 == 0) ? 0 : (uint8_t)(rng() | 1u);
        }
        fb_frame_t frame;
        for (size_t i = 0; i < n; i++) errors += fb_decoder_push(&dec, noise[i], &frame) < 0;
        if (round % 3 == 0) continue;
        fb_msg_t msg = {.type = FB_MSG_BUTTON};
        msg.u.button.t_ms = (uint32_t)round;
        uint8_t wire[FB_MAX_WIRE];
        size_t len = fb_msg_encode(&msg, (uint8_t)round, wire);
        planted++;
        errors += fb_decoder_push(&dec, 0x00, &frame) < 0;
        for (size_t i = 0; i < len; i++) {
            fb_result_t r = fb_decoder_push(&dec, wire[i], &frame);
            if (r == FB_OK && frame.type == FB_MSG_BUTTON && frame.seq == (uint8_t)round) recovered++;
        }
    }
    CHECK(planted > 60000 && recovered == planted);
    CHECK(errors > 1000);
    /* Every length of random body through frame_check and parse. */
    for (int round = 0; round < 200000; round++) {
        uint8_t enc[FB_MAX_ENCODED + 8];
        size_t n = rng() % sizeof enc;
        for (size_t i = 0; i < n; i++) enc[i] = (uint8_t)(rng() | 1u);
        fb_frame_t frame;
        fb_msg_t msg;
        if (fb_frame_check(enc, n, &frame) == FB_OK) {
            fb_msg_parse(&frame, FB_DIR_HOST_TO_DEVICE, &msg);
            fb_msg_parse(&frame, FB_DIR_DEVICE_TO_HOST, &msg);
        }
    }
}

static void test_device_fuzz(void) {
    capture_t c;
    fb_device_t d;
    connected_device(&d, &c);
    uint32_t now = 5000;
    for (int round = 0; round < 20000; round++) {
        uint8_t noise[64];
        size_t n = rng() % sizeof noise;
        for (size_t i = 0; i < n; i++) noise[i] = (uint8_t)rng();
        fb_device_receive(&d, noise, n, now);
        fb_device_tick(&d, now);
        now += 7;
        c.count = 0;
    }
    CHECK(d.rx_errors > 0);
    CHECK(d.engine_state <= FB_STATE_ERROR && strlen(d.lang_pair) <= FB_LANG_PAIR_MAX);
    CHECK(c.errors == 0); /* whatever it received, the device only sent valid frames */
}

int main(void) {
    test_debounce();
    test_led();
    test_boot_hello_and_retransmit();
    test_state_mirrored_and_acked();
    test_events_stop_and_wait();
    test_function_button_classified();
    test_host_lost_and_back();
    test_garbage_then_frame();
    test_event_queue_bounded();
    test_decoder_fuzz();
    test_device_fuzz();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
