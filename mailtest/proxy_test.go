package mailtest

import (
	"io"
	"net"
	"testing"
	"time"
)

// The final "\r\n.\r\n" often reaches the proxy split over two reads, under load; the cut
// must still happen right after it, and the server must still get every byte.
func TestProxyCutsAPatternSplitAcrossReads(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	px, err := StartProxy(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	px.CutAfter([]byte("\r\n.\r\n"))
	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, part := range []string{"body line\r\n", ".\r\n"} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // two writes, two reads at the proxy
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client's connection is still open after the pattern")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the proxy did not cut a pattern that came in two reads")
	}
	if b := <-got; string(b) != "body line\r\n.\r\n" {
		t.Fatalf("the server got %q", b)
	}
}
