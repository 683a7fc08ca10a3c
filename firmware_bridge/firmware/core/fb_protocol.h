/* Wire format of the firmware link (firmware_bridge/PROTOCOL.md is the specification).
 *
 * Portable C99, no allocation, no board dependencies: compiled for the board and for the
 * host unit tests alike. test_vectors.txt holds the bytes both this code and the Python
 * host side must produce.
 */
#ifndef FB_PROTOCOL_H
#define FB_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_PROTOCOL_VERSION 1u
#define FB_MAX_PAYLOAD 64u
#define FB_HEADER_SIZE 4u /* version, type, seq, payload length */
#define FB_CRC_SIZE 2u
#define FB_MAX_BODY (FB_HEADER_SIZE + FB_MAX_PAYLOAD + FB_CRC_SIZE)
#define FB_MAX_ENCODED (FB_MAX_BODY + 1u) /* COBS: one code byte per started 254 bytes */
#define FB_MAX_WIRE (FB_MAX_ENCODED + 1u) /* plus the 0x00 delimiter */

#define FB_HEARTBEAT_INTERVAL_MS 500u
#define FB_LINK_TIMEOUT_MS 2000u
#define FB_RETRANSMIT_INTERVAL_MS 200u
#define FB_MAX_TRIES 5u

#define FB_NAME_MAX 16u
#define FB_ERROR_TEXT_MAX 32u
#define FB_LANG_PAIR_MAX 16u
#define FB_VOLUME_MAX 100u
#define FB_BATTERY_PERCENT_UNKNOWN 255u

typedef enum {
    FB_MSG_HELLO = 0x01,
    FB_MSG_HEARTBEAT = 0x02,
    FB_MSG_ACK = 0x03,
    FB_MSG_BUTTON = 0x10,
    FB_MSG_LANG_SWAP = 0x11,
    FB_MSG_VOLUME = 0x12,
    FB_MSG_BATTERY = 0x13,
    FB_MSG_ERROR = 0x14,
    FB_MSG_STATE = 0x20,
    FB_MSG_LANG_PAIR = 0x21
} fb_msg_type_t;

typedef enum { FB_DIR_DEVICE_TO_HOST = 0, FB_DIR_HOST_TO_DEVICE = 1 } fb_direction_t;

typedef enum {
    FB_STATE_IDLE = 0,
    FB_STATE_LISTENING = 1,
    FB_STATE_THINKING = 2,
    FB_STATE_SPEAKING = 3,
    FB_STATE_ERROR = 4
} fb_engine_state_t;

typedef enum { FB_BUTTON_PTT = 0, FB_BUTTON_FUNC = 1 } fb_button_id_t;

typedef enum {
    FB_GESTURE_DOWN = 0,
    FB_GESTURE_UP = 1,
    FB_GESTURE_SHORT = 2,
    FB_GESTURE_DOUBLE = 3,
    FB_GESTURE_LONG = 4
} fb_gesture_t;

typedef enum {
    FB_CHARGING_DISCHARGING = 0,
    FB_CHARGING_CHARGING = 1,
    FB_CHARGING_FULL = 2,
    FB_CHARGING_EXTERNAL_POWER = 3
} fb_charging_t;

/* Outcome of feeding the decoder or parsing a frame. Errors are negative. */
typedef enum {
    FB_NONE = 0,
    FB_OK = 1,
    FB_ERR_OVERSIZE = -1,
    FB_ERR_COBS = -2,
    FB_ERR_SHORT = -3,
    FB_ERR_CRC = -4,
    FB_ERR_VERSION = -5,
    FB_ERR_LENGTH = -6,
    FB_ERR_TYPE = -7,
    FB_ERR_PAYLOAD = -8
} fb_result_t;

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t len;
    uint8_t payload[FB_MAX_PAYLOAD];
} fb_frame_t;

typedef struct {
    uint8_t buf[FB_MAX_ENCODED];
    uint8_t len;
    bool discarding;
} fb_decoder_t;

typedef struct {
    uint8_t major, minor, patch, caps;
    char name[FB_NAME_MAX + 1];
} fb_hello_t;

typedef struct {
    uint8_t button;
    uint8_t gesture;
    uint32_t t_ms;
} fb_button_t;

typedef struct {
    uint16_t millivolts;
    uint8_t percent;
    uint8_t charging;
} fb_battery_t;

typedef struct {
    uint8_t code;
    char text[FB_ERROR_TEXT_MAX + 1];
} fb_error_t;

typedef struct {
    uint8_t type; /* fb_msg_type_t; selects the union member (LANG_SWAP has none) */
    union {
        fb_hello_t hello;
        uint32_t heartbeat_uptime_ms;
        uint8_t acked_seq;
        fb_button_t button;
        uint8_t volume;
        fb_battery_t battery;
        fb_error_t error;
        uint8_t state;
        char lang_pair[FB_LANG_PAIR_MAX + 1];
    } u;
} fb_msg_t;

uint16_t fb_crc16(const uint8_t *data, size_t len);

/* out must hold len + len / 254 + 1 bytes; returns the encoded length. */
size_t fb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* Returns the decoded length, or -1 if the input is not valid COBS or exceeds cap. */
int fb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Printable ASCII, at most max characters, NUL-terminated into out[max + 1]. */
void fb_sanitize_text(const uint8_t *raw, size_t len, size_t max, char *out);

/* A complete frame including the trailing delimiter; returns its length (0 if len is too big). */
size_t fb_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, size_t len,
                       uint8_t out[FB_MAX_WIRE]);
/* Validates one delimiter-free encoded frame: FB_OK or the first failing check. */
fb_result_t fb_frame_check(const uint8_t *encoded, size_t len, fb_frame_t *out);

void fb_decoder_init(fb_decoder_t *dec);
/* Feed one byte: FB_NONE while a frame is incomplete, FB_OK with *out filled, or an error. */
fb_result_t fb_decoder_push(fb_decoder_t *dec, uint8_t byte, fb_frame_t *out);

/* Payload bytes of a message; returns the payload length. */
size_t fb_msg_payload(const fb_msg_t *msg, uint8_t payload[FB_MAX_PAYLOAD]);
size_t fb_msg_encode(const fb_msg_t *msg, uint8_t seq, uint8_t out[FB_MAX_WIRE]);
/* FB_OK, FB_ERR_TYPE (unknown, or not sent in this direction) or FB_ERR_PAYLOAD. */
fb_result_t fb_msg_parse(const fb_frame_t *frame, fb_direction_t dir, fb_msg_t *out);

#endif
