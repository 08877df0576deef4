// Package mailbox reads watched IMAP inboxes with go-imap v2: it fetches new mail by UID
// checkpoint (never by \Seen), waits for more with IDLE or a poll, and moves handled mail.
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // legacy charsets in RFC 2047 words

	"github.com/triagem/triagem/config"
)

// Keyword marks a message as handled on servers that can neither MOVE nor UID EXPUNGE.
const Keyword = "$TriagemDone"

// Sink stores a fetched body durably and names it (the spool).
type Sink interface {
	PutReader(r io.Reader) (sum string, size int64, err error)
}

// Fetched is one new message: its UID and, unless it was too large to fetch, its stored body.
type Fetched struct {
	UID       uint32
	Size      int64
	MessageID string // from the envelope, without <>
	Blob      string // "" when Oversized
	Oversized bool
}

// Conn is one logged-in IMAP session with the inbox's folder selected.
type Conn struct {
	c           *imapclient.Client
	in          config.Inbox
	timeout     time.Duration
	uidValidity uint32
	newMail     chan struct{}

	mu     sync.Mutex
	closed bool
}

// Dial connects, logs in and selects the inbox's folder. Every network step has a deadline
// of timeout: go-imap takes no context, so a watchdog closes the connection instead.
func Dial(ctx context.Context, in config.Inbox, timeout time.Duration) (*Conn, error) {
	pw, err := in.Password()
	if err != nil {
		return nil, fmt.Errorf("inbox %s: %w", in.Name, err)
	}
	cn := &Conn{in: in, timeout: timeout, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		Dialer:      &net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second},
		TLSConfig:   &tls.Config{ServerName: in.Host, MinVersion: tls.VersionTLS12},
		WordDecoder: &mime.WordDecoder{CharsetReader: message.CharsetReader},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case cn.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	addr := net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
	dialed := make(chan struct{})
	var dialErr error
	go func() {
		defer close(dialed)
		switch in.TLS {
		case "implicit":
			cn.c, dialErr = imapclient.DialTLS(addr, opts)
		case "starttls":
			cn.c, dialErr = imapclient.DialStartTLS(addr, opts)
		default:
			cn.c, dialErr = imapclient.DialInsecure(addr, opts)
		}
	}()
	select {
	case <-dialed:
	case <-ctx.Done():
		<-dialed
		if cn.c != nil {
			cn.c.Close()
		}
		return nil, ctx.Err()
	}
	if dialErr != nil {
		return nil, fmt.Errorf("inbox %s: connect to %s: %w", in.Name, addr, dialErr)
	}
	if err := cn.step(ctx, func() error { return cn.c.WaitGreeting() }); err != nil {
		cn.Close()
		return nil, fmt.Errorf("inbox %s: greeting: %w", in.Name, err)
	}
	if err := cn.step(ctx, func() error { return cn.c.Login(in.User, pw).Wait() }); err != nil {
		cn.Close()
		// The server's answer, never the password.
		return nil, fmt.Errorf("inbox %s: login as %s failed: %w (check the user and %s)", in.Name, in.User, err, passwordSource(in))
	}
	var sel *imap.SelectData
	if err := cn.step(ctx, func() error {
		var err error
		sel, err = cn.c.Select(in.Folder, nil).Wait()
		return err
	}); err != nil {
		cn.Close()
		return nil, fmt.Errorf("inbox %s: select %s: %w", in.Name, in.Folder, err)
	}
	cn.uidValidity = sel.UIDValidity
	return cn, nil
}

func passwordSource(in config.Inbox) string {
	if in.PasswordFile != "" {
		return "the password file " + in.PasswordFile
	}
	if in.PasswordEnv != "" {
		return "$" + in.PasswordEnv
	}
	return "the password setting"
}

// UIDValidity is the selected folder's UIDVALIDITY.
func (cn *Conn) UIDValidity() uint32 { return cn.uidValidity }

// Caps says which extensions the server offers.
func (cn *Conn) Caps() imap.CapSet { return cn.c.Caps() }

// NewMail is signalled when the server reports EXISTS (new mail) on the selected folder.
func (cn *Conn) NewMail() <-chan struct{} { return cn.newMail }

// Closed is closed when the connection ends, for whatever reason.
func (cn *Conn) Closed() <-chan struct{} { return cn.c.Closed() }

// Close ends the session. It is safe to call more than once.
func (cn *Conn) Close() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed || cn.c == nil {
		return nil
	}
	cn.closed = true
	return cn.c.Close()
}

// step runs fn, closing the connection if it takes longer than the timeout or ctx ends:
// a dead server then shows up as an error instead of a hang.
func (cn *Conn) step(ctx context.Context, fn func() error) error {
	return cn.stepFor(ctx, cn.timeout, fn)
}

func (cn *Conn) stepFor(ctx context.Context, d time.Duration, fn func() error) error {
	var timedOut bool
	var tmu sync.Mutex
	t := time.AfterFunc(d, func() {
		tmu.Lock()
		timedOut = true
		tmu.Unlock()
		cn.Close()
	})
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	err := fn()
	t.Stop()
	stop()
	tmu.Lock()
	defer tmu.Unlock()
	if timedOut {
		return fmt.Errorf("no answer from the IMAP server within %v: %w", d, errTimeout)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

var errTimeout = errors.New("timeout")

// EnsureFolders creates the folders handled mail is moved to, when missing.
func (cn *Conn) EnsureFolders(ctx context.Context, names ...string) error {
	for _, n := range names {
		err := cn.step(ctx, func() error { return cn.c.Create(n, nil).Wait() })
		if err != nil && !alreadyExists(err) {
			if cn.c.State() == imap.ConnStateLogout || isClosed(cn) {
				return fmt.Errorf("create folder %s: %w", n, err)
			}
			// Most servers answer NO [ALREADYEXISTS]; some just NO. Either way, go on.
		}
	}
	return nil
}

func isClosed(cn *Conn) bool {
	select {
	case <-cn.c.Closed():
		return true
	default:
		return false
	}
}

func alreadyExists(err error) bool {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "exists")
}

// FetchSince fetches every message with a UID above last. Bodies larger than maxSize are
// not fetched: they come back Oversized, for quarantine. Bodies go straight to sink.
// It never sets \Seen (BODY.PEEK[]).
func (cn *Conn) FetchSince(ctx context.Context, last uint32, maxSize int64, batch int, sink Sink, each func([]Fetched) error) error {
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // last+1:*
	// The list is UIDs and sizes only, which the server has in its index. The envelope
	// (for the Message-ID) comes with each body: asked for here, the envelopes of a whole
	// backlog were parsed before the first body came, half a second at 5,000 mails.
	var meta []*imapclient.FetchMessageBuffer
	err := cn.step(ctx, func() error {
		var err error
		meta, err = cn.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		return err
	})
	if err != nil {
		return fmt.Errorf("fetch new message list: %w", err)
	}
	var pending []Fetched
	for _, m := range meta {
		// "UID n:*" always matches the highest message, even below n.
		if uint32(m.UID) <= last {
			continue
		}
		f := Fetched{UID: uint32(m.UID), Size: m.RFC822Size}
		f.Oversized = m.RFC822Size > maxSize
		pending = append(pending, f)
	}
	// The first chunks are small, so that the caller starts on a backlog a few mails in;
	// they double up to batch.
	size := min(batch, 8)
	for len(pending) > 0 {
		n := min(size, len(pending))
		size = min(2*size, batch)
		chunk := pending[:n]
		pending = pending[n:]
		if err := cn.fetchBodies(ctx, chunk, sink); err != nil {
			return err
		}
		if err := each(chunk); err != nil {
			return err
		}
	}
	return nil
}

// fetchBodies stores the bodies of chunk's messages and notes their Message-IDs; an
// oversized message gets its envelope only.
func (cn *Conn) fetchBodies(ctx context.Context, chunk []Fetched, sink Sink) error {
	var set, oversized imap.UIDSet
	byUID := map[uint32]*Fetched{}
	for i := range chunk {
		if chunk[i].Oversized {
			oversized.AddNum(imap.UID(chunk[i].UID))
			continue
		}
		set.AddNum(imap.UID(chunk[i].UID))
		byUID[chunk[i].UID] = &chunk[i]
	}
	if len(oversized) > 0 {
		if err := cn.fetchEnvelopes(ctx, oversized, chunk); err != nil {
			return err
		}
	}
	if len(byUID) == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	// A long transfer (a big batch, a 25 MB scan) gets more time than one command.
	return cn.stepFor(ctx, cn.timeout+5*time.Minute, func() error {
		cmd := cn.c.Fetch(set, &imap.FetchOptions{UID: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{section}})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			var uid uint32
			var sum, messageID string
			var size int64
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = uint32(it.UID)
				case imapclient.FetchItemDataEnvelope:
					if it.Envelope != nil {
						messageID = it.Envelope.MessageID
					}
				case imapclient.FetchItemDataBodySection:
					if it.Literal == nil {
						continue
					}
					s, n, err := sink.PutReader(it.Literal)
					if err != nil {
						cmd.Close()
						return fmt.Errorf("store fetched message: %w", err)
					}
					sum, size = s, n
				}
			}
			if f := byUID[uid]; f != nil && sum != "" {
				f.Blob, f.Size, f.MessageID = sum, size, messageID
			}
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("fetch bodies: %w", err)
		}
		for uid, f := range byUID {
			if f.Blob == "" {
				return fmt.Errorf("fetch bodies: the server sent no body for UID %d; will retry", uid)
			}
		}
		return nil
	})
}

// fetchEnvelopes notes the Message-IDs of the messages of set, in chunk.
func (cn *Conn) fetchEnvelopes(ctx context.Context, set imap.UIDSet, chunk []Fetched) error {
	var msgs []*imapclient.FetchMessageBuffer
	err := cn.step(ctx, func() error {
		var err error
		msgs, err = cn.c.Fetch(set, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		return err
	})
	if err != nil {
		return fmt.Errorf("fetch envelopes: %w", err)
	}
	for _, m := range msgs {
		for i := range chunk {
			if chunk[i].UID == uint32(m.UID) && m.Envelope != nil {
				chunk[i].MessageID = m.Envelope.MessageID
			}
		}
	}
	return nil
}

// Move puts uids into folder, by the best means the server offers: MOVE; else COPY, then
// \Deleted and UID EXPUNGE of exactly these UIDs (UIDPLUS); else COPY and a keyword. A plain
// EXPUNGE is never sent: it would also remove other clients' \Deleted messages.
func (cn *Conn) Move(ctx context.Context, uids []uint32, folder string) (how string, err error) {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	caps := cn.c.Caps()
	switch {
	case caps.Has(imap.CapMove):
		return "move", cn.step(ctx, func() error { _, err := cn.c.Move(set, folder).Wait(); return err })
	case caps.Has(imap.CapUIDPlus):
		err := cn.step(ctx, func() error {
			if _, err := cn.c.Copy(set, folder).Wait(); err != nil {
				return err
			}
			flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
			if err := cn.c.Store(set, flags, nil).Close(); err != nil {
				return err
			}
			return cn.c.UIDExpunge(set).Close()
		})
		return "copy+uid-expunge", err
	default:
		err := cn.step(ctx, func() error {
			if _, err := cn.c.Copy(set, folder).Wait(); err != nil {
				return err
			}
			flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{Keyword}}
			return cn.c.Store(set, flags, nil).Close()
		})
		return "copy+keyword", err
	}
}

// Wait blocks until the server reports new mail, wake fires, max passes, or ctx ends. It
// uses IDLE when offered; either way the caller polls afterwards, so a missed
// notification costs at most max.
func (cn *Conn) Wait(ctx context.Context, wake <-chan struct{}, max time.Duration) error {
	timer := time.NewTimer(max)
	defer timer.Stop()
	if !cn.c.Caps().Has(imap.CapIdle) {
		select {
		case <-cn.newMail:
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-cn.c.Closed():
			return errors.New("connection closed while waiting")
		}
		return nil
	}
	var idle *imapclient.IdleCommand
	if err := cn.step(ctx, func() error {
		var err error
		idle, err = cn.c.Idle()
		return err
	}); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	var waitErr error
	select {
	case <-cn.newMail:
	case <-wake:
	case <-timer.C:
	case <-ctx.Done():
		waitErr = ctx.Err()
	case <-cn.c.Closed():
		return errors.New("connection closed during IDLE")
	}
	if err := cn.step(context.Background(), func() error {
		if err := idle.Close(); err != nil {
			return err
		}
		return idle.Wait()
	}); err != nil {
		return fmt.Errorf("end idle: %w", err)
	}
	return waitErr
}
