/* Raspberry Pi Pico (RP2040) main: the board glue around the portable core in ../core.
 *
 * Wiring: push-to-talk button GP14 and function button GP15 to ground (internal pull-ups);
 * common-cathode RGB LED on GP16 (red), GP17 (green), GP18 (blue) through resistors; the
 * on-board LED (GP25) lights whenever the RGB LED does. Battery on VSYS, read through the
 * Pico's divider on GP29/ADC3; VBUS presence on GP24 tells USB power.
 * The link to the compute module is USB CDC (stdio_usb), 2E8A:000A.
 *
 * Not compiled in CI (it needs the Pico SDK); everything it calls in ../core is.
 */
#include <stdio.h>

#include "fb_device.h"
#include "fb_led.h"
#include "hardware/adc.h"
#include "hardware/gpio.h"
#include "hardware/pwm.h"
#include "hardware/watchdog.h"
#include "pico/stdlib.h"

#define PIN_PTT 14
#define PIN_FUNC 15
#define PIN_RED 16
#define PIN_GREEN 17
#define PIN_BLUE 18
#define PIN_VBUS 24
#define PIN_ONBOARD_LED 25
#define ADC_VSYS 3 /* GP29 */
#define BATTERY_PERIOD_MS 30000u
#define LIION_EMPTY_MV 3300u
#define LIION_FULL_MV 4150u

static void usb_write(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    for (size_t i = 0; i < len; i++) putchar_raw(data[i]); /* raw: no CR/LF translation */
    stdio_flush();
}

static void pwm_pin(uint pin) {
    gpio_set_function(pin, GPIO_FUNC_PWM);
    uint slice = pwm_gpio_to_slice_num(pin);
    pwm_set_wrap(slice, 255);
    pwm_set_enabled(slice, true);
}

static void show_color(uint32_t rgb) {
    pwm_set_gpio_level(PIN_RED, (rgb >> 16) & 0xFFu);
    pwm_set_gpio_level(PIN_GREEN, (rgb >> 8) & 0xFFu);
    pwm_set_gpio_level(PIN_BLUE, rgb & 0xFFu);
    gpio_put(PIN_ONBOARD_LED, rgb != 0);
}

static fb_battery_t read_battery(void) {
    adc_select_input(ADC_VSYS);
    uint32_t raw = adc_read(); /* 12 bits of 3.3 V, VSYS divided by 3 */
    fb_battery_t b;
    b.millivolts = (uint16_t)(raw * 3u * 3300u / 4095u);
    bool usb = gpio_get(PIN_VBUS);
    uint32_t mv = b.millivolts;
    if (mv <= LIION_EMPTY_MV) b.percent = 0;
    else if (mv >= LIION_FULL_MV) b.percent = 100;
    else b.percent = (uint8_t)((mv - LIION_EMPTY_MV) * 100u / (LIION_FULL_MV - LIION_EMPTY_MV));
    /* Without a charger status pin, USB power plus a full cell is all we can tell. */
    b.charging = !usb ? FB_CHARGING_DISCHARGING
                 : mv >= LIION_FULL_MV ? FB_CHARGING_FULL
                                       : FB_CHARGING_CHARGING;
    return b;
}

static void button_pin(uint pin) {
    gpio_init(pin);
    gpio_set_dir(pin, GPIO_IN);
    gpio_pull_up(pin);
}

int main(void) {
    stdio_init_all();
    button_pin(PIN_PTT);
    button_pin(PIN_FUNC);
    gpio_init(PIN_VBUS);
    gpio_set_dir(PIN_VBUS, GPIO_IN);
    gpio_init(PIN_ONBOARD_LED);
    gpio_set_dir(PIN_ONBOARD_LED, GPIO_OUT);
    pwm_pin(PIN_RED);
    pwm_pin(PIN_GREEN);
    pwm_pin(PIN_BLUE);
    adc_init();
    adc_gpio_init(29);
    watchdog_enable(1000, true);

    static fb_device_t device;
    const fb_hello_t hello = {1, 0, 0, 0x0Au /* battery | LEDs */, "pico-translator"};
    uint32_t now = to_ms_since_boot(get_absolute_time());
    fb_device_init(&device, &hello, (fb_port_t){usb_write, NULL}, now);
    device.battery = read_battery();

    fb_debounce_t ptt, func;
    fb_debounce_init(&ptt, false, now);
    fb_debounce_init(&func, false, now);
    uint32_t last_battery = now;

    for (;;) {
        watchdog_update();
        now = to_ms_since_boot(get_absolute_time());
        int c;
        uint8_t rx[64];
        size_t n = 0;
        while (n < sizeof rx && (c = getchar_timeout_us(0)) != PICO_ERROR_TIMEOUT) rx[n++] = (uint8_t)c;
        if (n > 0) fb_device_receive(&device, rx, n, now);

        fb_edge_t edge = fb_debounce_update(&ptt, !gpio_get(PIN_PTT), now);
        if (edge != FB_EDGE_NONE) fb_device_button(&device, FB_BUTTON_PTT, edge, now);
        edge = fb_debounce_update(&func, !gpio_get(PIN_FUNC), now);
        if (edge != FB_EDGE_NONE) fb_device_button(&device, FB_BUTTON_FUNC, edge, now);

        if ((uint32_t)(now - last_battery) >= BATTERY_PERIOD_MS) {
            last_battery = now;
            fb_msg_t msg = {.type = FB_MSG_BATTERY};
            msg.u.battery = read_battery();
            fb_device_send(&device, &msg, now);
        }
        fb_device_tick(&device, now);
        show_color(fb_led_color(fb_device_led_state(&device), now));
        sleep_ms(1);
    }
}
