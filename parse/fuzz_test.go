package parse

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzLimits = Limits{MaxHeaderBytes: 64 << 10, MaxParts: 50, MaxDepth: 10, MaxTextBytes: 64 << 10}

// FuzzParse: any bytes either parse into valid UTF-8 text within the limits, or fail with
// an error. Never a panic, never unbounded output.
func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@b.pt\r\nSubject: =?utf-8?q?Ol=C3=A1?=\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n--x"))
	f.Add([]byte("Content-Type: text/html; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n!!notbase64!!\r\n"))
	f.Add([]byte("Subject: =?iso-8859-1?b?6Q==?= =?x-unknown?q?abc?=\r\nFrom: \"\r\nBcc: x@y\" <a@b>\r\n\r\n"))
	f.Add([]byte("\xef\xbb\xbfFrom a@b Mon Jan  1 00:00:00 2024\r\nFrom: a@b\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, fuzzLimits)
		if err != nil {
			return
		}
		for name, s := range map[string]string{"subject": m.Subject, "text": m.Text, "new": m.NewText, "quoted": m.Quoted} {
			if !utf8.ValidString(s) {
				t.Errorf("%s is not valid UTF-8: %q", name, s)
			}
		}
		if len(m.Text) > fuzzLimits.MaxTextBytes {
			t.Errorf("text of %d bytes over the limit", len(m.Text))
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Errorf("a subject with a line break: %q", m.Subject)
		}
	})
}

// FuzzSplit: the quote stripper returns pieces of its input, whatever the input.
func FuzzSplit(f *testing.F) {
	f.Add("Olá\n\nEm seg., 3 de mar. de 2025, X escreveu:\n> antes\n")
	f.Add("texto\n-----Original Message-----\nFrom: x\n")
	f.Add("a\n-- \nassinatura\n")
	f.Add(">>>>\n> \n>\n")
	f.Fuzz(func(t *testing.T, text string) {
		n, q, s := Split(text)
		if len(n)+len(q)+len(s) > 2*len(text)+16 {
			t.Errorf("split grew the text: %d → %d", len(text), len(n)+len(q)+len(s))
		}
	})
}
