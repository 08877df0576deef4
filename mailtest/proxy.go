package mailtest

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections to a server, and can turn into a black hole: bytes stop
// flowing both ways and nothing is closed, as when a NAT or a firewall silently drops a
// connection. Tests use it to prove that dead connections are noticed.
type Proxy struct {
	Addr string

	l      net.Listener
	target string
	mu     sync.Mutex
	hole   bool
	cut    []byte       // once seen from a client, the connection is cut after passing it on
	sent   bytes.Buffer // everything clients sent, for tests that check the commands
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
}

// StartProxy listens on 127.0.0.1 and forwards to target.
func StartProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), l: l, target: target, conns: map[net.Conn]bool{}, closed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Blackhole starts (true) or ends (false) the silent drop.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	p.hole = on
	p.mu.Unlock()
}

// CutAfter makes the next client that sends pattern lose its connection right after the
// server got it, before any answer comes back: "the connection drops after the final '.'".
// The pattern may arrive split over several reads; it must be at most 256 bytes.
func (p *Proxy) CutAfter(pattern []byte) {
	p.mu.Lock()
	p.cut = pattern
	p.mu.Unlock()
}

func (p *Proxy) takeCut(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut != nil && bytes.Contains(b, p.cut) {
		p.cut = nil
		return true
	}
	return false
}

func (p *Proxy) holed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hole
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, true)
		go p.pipe(c, s, false)
	}
}

// tailKept is how much of a client's earlier reads a CutAfter pattern may reach back into.
const tailKept = 256

// pipe copies src to dst, holding the bytes while the proxy is a black hole.
func (p *Proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	var seen []byte // the client's last bytes and this read: a pattern split across reads still matches
	for {
		n, err := src.Read(buf)
		for n > 0 && p.holed() {
			select {
			case <-p.closed:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		if n > 0 && fromClient {
			p.mu.Lock()
			p.sent.Write(buf[:n])
			p.mu.Unlock()
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if fromClient {
				seen = append(seen, buf[:n]...)
				if p.takeCut(seen) {
					src.Close()                        // the client never hears the answer …
					time.Sleep(200 * time.Millisecond) // … which the server still gives
					return
				}
				if len(seen) > tailKept {
					seen = append(seen[:0], seen[len(seen)-tailKept:]...)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Sent is everything clients have sent through the proxy so far.
func (p *Proxy) Sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.sent.Bytes()...)
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() error {
	var err error
	p.once.Do(func() { err = p.close() })
	return err
}

func (p *Proxy) close() error {
	close(p.closed)
	err := p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
