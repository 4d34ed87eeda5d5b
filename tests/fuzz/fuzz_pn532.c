/*
 * fuzz_pn532.c — libFuzzer harness for the PN532 model behind pn532emu
 * (tests/tools/pn532_chip.c): whatever bytes the host sends, the chip
 * stays within its buffers and answers only well-formed frames (ACK,
 * application error, or a D5 frame with good checksums whose status byte
 * never has the NAD/MI bits libnfc aborts on).  A violation aborts.
 *
 * Input: chunks, each a header byte then up to 63 bytes.  Header bits 0-5:
 * chunk length; bit 6: 60 ms pass after the chunk; bit 7: a card enters or
 * leaves the field before it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pn532_chip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pn532 chip;
static struct pn532_card card4, card7;

static void check_out(const uint8_t *b, size_t n)
{
	static const uint8_t ack[] = { 0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00 };
	static const uint8_t err[] = { 0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00 };
	size_t i = 0;

	while (i < n) {
		size_t len;
		uint8_t sum = 0;

		if (n - i >= sizeof ack && memcmp(b + i, ack, sizeof ack) == 0) {
			i += sizeof ack;
			continue;
		}
		if (n - i >= sizeof err && memcmp(b + i, err, sizeof err) == 0) {
			i += sizeof err;
			continue;
		}
		if (n - i < 9 || b[i] != 0 || b[i + 1] != 0 || b[i + 2] != 0xFF)
			abort();
		len = b[i + 3];
		if (((len + b[i + 4]) & 0xFF) != 0 || len < 2 || n - i < 5 + len + 2)
			abort();
		if (b[i + 5] != 0xD5)
			abort();
		for (size_t k = 0; k <= len; k++)
			sum = (uint8_t)(sum + b[i + 5 + k]);
		if (sum != 0 || b[i + 5 + len + 1] != 0x00)
			abort();
		/* InDataExchange, InCommunicateThru, PowerDown status bytes. */
		if ((b[i + 6] == 0x41 || b[i + 6] == 0x43 || b[i + 6] == 0x17) &&
		    (len < 3 || (b[i + 7] & 0xC0) != 0))
			abort();
		i += 5 + len + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = 1000;
	int which = 0;

	if (card4.uid_len == 0) {
		memcpy(card4.uid, "\xDE\xAD\xBE\xEF", 4);
		card4.uid_len = 4;
		memcpy(card7.uid, "\x04\x11\x22\x33\x44\x55\x66", 7);
		card7.uid_len = 7;
	}
	pn532_card_blank(&card4);
	pn532_card_blank(&card7);
	chip.card = &card4;
	chip.log = false;
	pn532_reset(&chip);
	while (size > 0) {
		uint8_t h = data[0];
		size_t n = h & 63u;

		data++;
		size--;
		if (n > size)
			n = size;
		if (h & 0x80) {
			which = (which + 1) % 3;
			pn532_set_card(&chip, which == 0 ? &card4 :
					      which == 1 ? &card7 : NULL);
		}
		pn532_feed(&chip, data, n, now);
		data += n;
		size -= n;
		if (h & 0x40) {
			now += 60;
			if (pn532_deadline(&chip) != 0 && pn532_deadline(&chip) <= now)
				pn532_tick(&chip, now);
		}
		if (chip.rx_len >= sizeof chip.rx || chip.out_len > sizeof chip.out)
			abort();
		check_out(chip.out, chip.out_len);
		chip.out_len = 0;
	}
	return 0;
}
