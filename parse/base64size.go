package parse

import (
	"errors"
	"fmt"
	"io"
	"sync"
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

// base64Weight is base64Class as a sum: every alphabet byte adds 1 to the low 16 bits,
// every other byte a decoder would not skip adds 1 above them. A chunk's sum is its
// count of base64 characters, and whether it holds anything else, with no branch per byte.
var base64Weight = func() (c [256]uint32) {
	for b, class := range base64Class {
		c[b] = [4]uint32{1 << 16, 1, 0, 1 << 16}[class]
	}
	return c
}()

// base64Buffers are base64Size's read buffers: an array on its stack was zeroed at every
// call, a cost the profiles showed.
var base64Buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// base64Size is the number of bytes a base64 body decodes to, counted without decoding
// it. Like a decoder it stops at the first byte outside the encoding, with an error, and
// counts what came before; unlike Go's, it does not mind missing padding.
func base64Size(r io.Reader) (int, error) {
	bp := base64Buffers.Get().(*[]byte)
	defer base64Buffers.Put(bp)
	buf := *bp
	chars, padded, offset := 0, false, 0
	for {
		n, err := r.Read(buf)
		// Nearly every chunk is alphabet and line breaks only: summed without a branch per
		// byte, 2.5 times faster than the walk below. A chunk with padding or a stray byte,
		// or after padding, is walked byte by byte to say where. In 32 KB neither half of
		// the sum can overflow; four sums, so that the additions do not wait on each other.
		var s0, s1, s2, s3 uint32
		chunk := buf[:n]
		for len(chunk) >= 4 {
			s0 += base64Weight[chunk[0]]
			s1 += base64Weight[chunk[1]]
			s2 += base64Weight[chunk[2]]
			s3 += base64Weight[chunk[3]]
			chunk = chunk[4:]
		}
		for _, b := range chunk {
			s0 += base64Weight[b]
		}
		sum := s0 + s1 + s2 + s3
		if sum>>16 == 0 && !padded {
			chars += int(sum)
		} else {
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
