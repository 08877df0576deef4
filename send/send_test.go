package send

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/mailtest"
)

// bufferFlusher is a bytes.Buffer that writeData can flush.
type bufferFlusher struct{ bytes.Buffer }

func (*bufferFlusher) Flush() error { return nil }

func stuffed(t *testing.T, body []byte, oneByte bool) string {
	t.Helper()
	var w bufferFlusher
	r := iotest.DataErrReader(bytes.NewReader(body))
	if oneByte {
		r = iotest.OneByteReader(bytes.NewReader(body))
	}
	if _, err := writeData(&w, r, make([]byte, 7), nil); err != nil {
		t.Fatal(err)
	}
	return w.String()
}

// The content writer gives what textproto's DotWriter gives, whatever the read sizes.
func TestWriteDataMatchesDotWriter(t *testing.T) {
	inputs := []string{
		"Subject: x\r\n\r\nhello\r\n",
		"Subject: x\n\nbare line feeds\nend",
		".leading dot\r\n..two\r\nmid.dle\r\n.\r\n",
		"no final newline",
		"a\r\n.\nb\n\n\n.",
		"ends in CR\r",
		"\r\n\r\n",
		strings.Repeat("line of text that is longer than a chunk.\r\n.dot\r\n", 500),
	}
	for _, in := range inputs {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		dw.Write([]byte(in))
		dw.Close()
		for _, oneByte := range []bool{false, true} {
			if got := stuffed(t, []byte(in), oneByte); got != want.String() {
				t.Errorf("%.40q (one byte at a time: %v):\n got %q\nwant %q", in, oneByte, got, want.String())
			}
		}
	}
}

func TestWriteDataLargeBodyInFewWrites(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 3000) // 192 KB
	var w countingFlusher
	if _, err := writeData(&w, bytes.NewReader(body), make([]byte, 16<<10), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), append(body, ".\r\n"...)) {
		t.Fatal("content changed")
	}
	// textproto's 4 KB buffer would make this 48 writes.
	if w.writes > len(body)/dataChunk+2 {
		t.Errorf("%d writes for %d bytes, want at most %d", w.writes, len(body), len(body)/dataChunk+2)
	}
}

type countingFlusher struct {
	bufferFlusher
	writes int
}

func (c *countingFlusher) Write(p []byte) (int, error) { c.writes++; return c.Buffer.Write(p) }

func sender(t *testing.T, addr string) *Sender {
	t.Helper()
	host, port := mailtest.HostPort(t, addr)
	s, err := New(config.SMTP{Host: host, Port: port, TLS: "plain", Timeout: config.Duration{Duration: 10 * time.Second}}, "triagem.example.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sink(t *testing.T) *mailtest.SMTP {
	t.Helper()
	sm, err := mailtest.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	return sm
}

// Pipelined to a server that offers it (go-smtp does): the message arrives as sent, to
// every recipient, and the session carries the next message too.
func TestSendPipelined(t *testing.T) {
	sm := sink(t)
	s := sender(t, sm.Addr)
	msg := "From: a@example.test\r\nSubject: dots\r\n\r\n.a line with a dot\r\nbare\nlf\r\n"
	for i := range 2 {
		reply, err := s.Send(context.Background(), "a@example.test", []string{"b@example.test", "c@example.test"}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(reply, "250 ") {
			t.Errorf("reply %q", reply)
		}
		d := sm.Deliveries()
		if len(d) != i+1 {
			t.Fatalf("%d deliveries after %d sends", len(d), i+1)
		}
		want := strings.ReplaceAll(msg, "bare\nlf", "bare\r\nlf")
		if got := d[i]; string(got.Data) != want || got.From != "a@example.test" || fmt.Sprint(got.Rcpts) != "[b@example.test c@example.test]" || got.Session != 1 {
			t.Errorf("delivery %d: from %s to %v on session %d:\n%q", i, got.From, got.Rcpts, got.Session, got.Data)
		}
	}
}

// A refused recipient among accepted ones: the server has said 354 to DATA, but the
// message must not go to the others alone. The connection is dropped instead, and the
// next message goes on a new session.
func TestSendRefusedRecipientAbandonsTheTransaction(t *testing.T) {
	sm := sink(t)
	sm.RefuseRcpt("gone@example.test", 550)
	s := sender(t, sm.Addr)
	_, err := s.Send(context.Background(), "a@example.test", []string{"b@example.test", "gone@example.test", "c@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Code != 550 || !se.Permanent || !strings.Contains(se.Line, "scripted refusal") {
		t.Fatalf("error %v, want the 550 of the refused recipient", err)
	}
	if _, err := s.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader("Subject: y\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	d := sm.Deliveries()
	if len(d) != 1 || !bytes.Contains(d[0].Data, []byte("Subject: y")) || d[0].Session != 2 {
		t.Fatalf("deliveries %+v, want only the second message, on a second session", d)
	}
}

// Every recipient refused: DATA is refused too, the session is reset and reused.
func TestSendAllRefusedKeepsTheSession(t *testing.T) {
	sm := sink(t)
	sm.RefuseRcpt("gone@example.test", 450)
	s := sender(t, sm.Addr)
	_, err := s.Send(context.Background(), "a@example.test", []string{"gone@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Code != 450 || se.Permanent {
		t.Fatalf("error %v, want the temporary 450", err)
	}
	if _, err := s.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader("Subject: y\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if d := sm.Deliveries(); len(d) != 1 || d[0].Session != 1 {
		t.Fatalf("deliveries %+v, want one, on the first session", d)
	}
}

// A server that does not offer PIPELINING gets one command at a time (RFC 2920 §3.1):
// this one answers a command only after checking that nothing more has arrived.
func TestSendWithoutPipeliningWaitsForEachReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	violations := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 strict.example.test ESMTP\r\n")
		inData := false
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if inData {
				if line == ".\r\n" {
					inData = false
					fmt.Fprintf(c, "250 2.0.0 queued as X1\r\n")
				}
				continue
			}
			// Anything more within 100 ms, before our reply, was pipelined.
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := r.Peek(1); err == nil {
				violations <- strings.TrimSpace(line)
			}
			cmd := strings.ToUpper(strings.Fields(line + " x")[0])
			switch cmd {
			case "EHLO":
				fmt.Fprintf(c, "250-strict.example.test\r\n250 8BITMIME\r\n")
			case "DATA":
				inData = true
				fmt.Fprintf(c, "354 go ahead\r\n")
			case "QUIT":
				fmt.Fprintf(c, "221 bye\r\n")
				return
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
	}()
	s := sender(t, ln.Addr().String())
	reply, err := s.Send(context.Background(), "a@example.test", []string{"b@example.test", "c@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if reply != "250 2.0.0 queued as X1" {
		t.Errorf("reply %q", reply)
	}
	s.Close()
	<-done
	close(violations)
	for v := range violations {
		t.Errorf("more arrived before the reply to %q", v)
	}
}

// After a DATA the server accepted in spite of a refused recipient, not a byte more goes
// on that connection: not the content, not a RSET, which the server would take for content.
func TestSendAbandonedDataSendsNothingMore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	after := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 fake.example.test ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "EHLO"):
				fmt.Fprintf(c, "250-fake.example.test\r\n250 PIPELINING\r\n")
			case strings.Contains(line, "gone@"):
				fmt.Fprintf(c, "550 no such user\r\n")
			case strings.HasPrefix(line, "DATA"):
				fmt.Fprintf(c, "354 go ahead\r\n")
				rest, _ := r.ReadString('\n') // until the client closes
				after <- rest
				return
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
	}()
	s := sender(t, ln.Addr().String())
	_, err = s.Send(context.Background(), "a@example.test", []string{"b@example.test", "gone@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("error %v, want the 550", err)
	}
	if rest := <-after; rest != "" {
		t.Errorf("after the abandoned DATA the server got %q", rest)
	}
}
