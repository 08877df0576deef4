package parse

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// wrapped is b in base64, broken into lines of width characters with the given line end.
func wrapped(b []byte, width int, eol string) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(enc) > width {
		out.WriteString(enc[:width] + eol)
		enc = enc[width:]
	}
	out.WriteString(enc + eol)
	return out.String()
}

func TestBase64SizeIsTheDecodedSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		b := make([]byte, r.IntN(100_000))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		eol := []string{"\r\n", "\n", "\r\n ", "\n\t"}[i%4] // the last two: folded, as some clients do
		body := wrapped(b, 1+r.IntN(100), eol)
		n, err := base64Size(strings.NewReader(body))
		if err != nil || n != len(b) {
			t.Fatalf("%d bytes encoded in lines ending %q: base64Size says %d, %v", len(b), eol, n, err)
		}
	}
}

func TestBase64SizeStopsAtWhatIsNotBase64(t *testing.T) {
	for _, body := range []string{"QUJD\r\nRE*F\r\n", "QUJD\r\nRA==\r\nRUZH\r\n"} {
		n, err := base64Size(strings.NewReader(body))
		if err == nil {
			t.Errorf("%q: no error, size %d", body, n)
		}
		if n < 3 || n > 4 {
			t.Errorf("%q: size %d, want what came before the bad byte (3 or 4)", body, n)
		}
	}
}

// A chunk that is all alphabet is counted without looking at its bytes one by one; the
// byte-by-byte walk must still take over in a later chunk, and across chunks.
func TestBase64SizeStopsInALaterChunk(t *testing.T) {
	line := strings.Repeat("QUJD", 19) + "\r\n" // 57 bytes in 78
	lines := strings.Repeat(line, 1000)         // 78,000 bytes: more than two reads
	for _, c := range []struct {
		body string
		want int
	}{
		{lines + "RE*F\r\n" + lines, 57*1000 + 1},
		{lines + "RA==\r\n" + lines, 57*1000 + 1},
		{lines + "RA=" + strings.Repeat(" ", 40_000) + "=\r\n" + lines, 57*1000 + 1}, // padding split over two reads
		{lines + "RA==" + strings.Repeat(" ", 40_000) + lines, 57*1000 + 1},          // data a read after the padding
	} {
		n, err := base64Size(strings.NewReader(c.body))
		if err == nil || n != c.want {
			t.Errorf("%d bytes ending %q…: size %d, %v; want %d and an error", len(c.body), c.body[len(lines):len(lines)+4], n, err, c.want)
		}
	}
	n, err := base64Size(strings.NewReader(lines + "RA=" + strings.Repeat(" ", 40_000) + "=\r\n"))
	if err != nil || n != 57*1000+1 {
		t.Errorf("padding split over two reads: size %d, %v; want %d and no error", n, err, 57*1000+1)
	}
}

// The walker counts a base64 attachment without decoding it; the forward lists its size,
// so the count must be the one decoding gives, and a damaged attachment must show.
func TestAttachmentSizesWithoutDecoding(t *testing.T) {
	scan := bytes.Repeat([]byte("%PDF-1.4 scan \x00\xff\x10"), 1234)
	plain := "Olá, segue a fatura.\r\n"
	mail := func(attachment string) []byte {
		return fmt.Appendf(nil, "From: ana@example.pt\r\nSubject: fatura\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"+
			"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOl=C3=A1, segue a fatura.\r\n"+
			"--b1\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: Base64\r\nContent-Disposition: attachment; filename=scan.pdf\r\n\r\n%s"+
			"--b1\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: 7bit\r\n\r\nnotes\r\n"+
			"--b1--\r\n", attachment)
	}
	m, err := Parse(mail(wrapped(scan, 76, "\r\n")), lim)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(m.Text) != strings.TrimSpace(plain) {
		t.Errorf("text %q", m.Text)
	}
	if len(m.Attachments) != 2 || m.Attachments[0].Size != len(scan) || m.Attachments[0].Name != "scan.pdf" || m.Attachments[1].Size != len("notes") {
		t.Errorf("attachments %+v, want scan.pdf of %d bytes and notes.txt", m.Attachments, len(scan))
	}
	if len(m.Anomalies) != 0 {
		t.Errorf("anomalies %v in a well-formed mail", m.Anomalies)
	}

	m, err = Parse(mail("JVBERi0x\r\nLjQg$$$$\r\n"), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 2 || m.Attachments[0].Size != 9 || len(m.Anomalies) != 1 || !strings.Contains(m.Anomalies[0], "not base64") {
		t.Errorf("damaged base64: attachments %+v anomalies %v", m.Attachments, m.Anomalies)
	}
}

// BenchmarkBase64Size counts a 1 MB attachment in 76-column lines, as mail clients wrap it.
func BenchmarkBase64Size(b *testing.B) {
	raw := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	body := wrapped(raw, 76, "\r\n")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if n, err := base64Size(strings.NewReader(body)); err != nil || n != len(raw) {
			b.Fatalf("size %d, %v", n, err)
		}
	}
}
