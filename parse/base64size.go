package parse

import (
	"errors"
	"fmt"
	"io"
)

// base64Class sorts the bytes of a base64 body: 1 for the alphabet, 2 for what a decoder
// skips (line breaks, and the spaces and tabs go-message tolerates), 3 for padding.
var base64Class = func() (c [256]byte) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		c[b] = 1
	}
	for _, b := range []byte("\r\n\t ") {
		c[b] = 2
	}
	c['='] = 3
	return c
}()

// base64Size is the number of bytes a base64 body decodes to, counted without decoding
// it. Like a decoder it stops at the first byte outside the encoding, with an error, and
// counts what came before; unlike Go's, it does not mind missing padding.
func base64Size(r io.Reader) (int, error) {
	var buf [32 << 10]byte
	chars, padded, offset := 0, false, 0
	for {
		n, err := r.Read(buf[:])
		for i, b := range buf[:n] {
			switch base64Class[b] {
			case 1:
				if padded {
					return chars * 3 / 4, fmt.Errorf("base64 data after its padding, at byte %d", offset+i)
				}
				chars++
			case 3:
				padded = true
			case 0:
				return chars * 3 / 4, fmt.Errorf("byte %#02x is not base64, at byte %d", b, offset+i)
			}
		}
		offset += n
		if errors.Is(err, io.EOF) {
			return chars * 3 / 4, nil
		}
		if err != nil {
			return chars * 3 / 4, err
		}
	}
}
