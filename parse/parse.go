// Package parse turns raw mail into the text and facts that screening and classification read.
package parse

import (
	"bytes"
	"errors"
	"fmt"
	"golang.org/x/text/unicode/norm"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // registers decoders for legacy charsets
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// Limits bound the work one message may cost.
type Limits struct {
	MaxHeaderBytes int
	MaxParts       int
	MaxDepth       int
	MaxTextBytes   int
}

// Address is a parsed mailbox.
type Address struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Attachment is a non-text part, listed but not read.
type Attachment struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Size int    `json:"size"`
}

// Mail is what the rest of triagem knows about a message.
type Mail struct {
	Header     mail.Header
	MessageID  string
	InReplyTo  []string
	References []string
	From       []Address
	ReplyTo    []Address
	To, Cc     []Address
	Subject    string
	Date       time.Time

	// Text is the whole readable body; NewText, Quoted and Signature split it.
	Text      string
	NewText   string
	Quoted    string
	Signature string

	Attachments []Attachment
	Parts       int
	// Anomalies are problems that were worked around (an unknown charset, a broken part).
	Anomalies []string
}

// LimitError means the message exceeds a configured bound: it is quarantined, not read.
type LimitError struct{ Reason string }

func (e *LimitError) Error() string { return e.Reason }

// Parse reads raw. It is lenient: a broken part or an unknown charset is recorded in
// Anomalies and parsing goes on. It fails only on an unreadable header or a limit.
func Parse(raw []byte, lim Limits) (*Mail, error) {
	if end := headerEnd(raw); end < 0 && len(raw) > lim.MaxHeaderBytes || end > lim.MaxHeaderBytes {
		return nil, &LimitError{Reason: fmt.Sprintf("header is larger than the limit of %d bytes", lim.MaxHeaderBytes)}
	}
	m := &Mail{}
	raw = m.repairHeader(raw)
	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: int64(lim.MaxHeaderBytes)})
	if err != nil {
		if e == nil {
			return nil, fmt.Errorf("unreadable header: %v", err)
		}
		m.Anomalies = append(m.Anomalies, err.Error())
	}
	m.Header = mail.Header{Header: e.Header}
	m.readHeader()

	w := walker{m: m, lim: lim}
	var text textParts
	w.walk(e, nil, 0, &text)
	// Composed form: "não" written with a combining tilde (NFD, as some Apple clients send)
	// reads, matches and prints like any other "não".
	m.Text = norm.NFC.String(text.best())
	m.Subject = norm.NFC.String(m.Subject)
	if len(m.Text) > lim.MaxTextBytes {
		m.Text = truncateUTF8(m.Text, lim.MaxTextBytes)
		m.Anomalies = append(m.Anomalies, fmt.Sprintf("text cut to %d bytes", lim.MaxTextBytes))
	}
	if text.forwarded != "" {
		text.forwarded = truncateUTF8(text.forwarded, lim.MaxTextBytes)
	}
	m.NewText, m.Quoted, m.Signature = Split(m.Text)
	if text.forwarded != "" {
		m.Quoted = strings.TrimSpace(m.Quoted + "\n" + text.forwarded)
	}
	if w.limit != nil {
		return m, w.limit
	}
	return m, nil
}

// repairHeader makes a damaged header readable instead of refusing the mail: it drops a
// byte-order mark and an mbox "From " line, and ends the header at the first line that is
// neither a field nor a continuation (the text after it is taken as the body).
func (m *Mail) repairHeader(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		raw = raw[3:]
		m.Anomalies = append(m.Anomalies, "byte-order mark before the header")
	}
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
			m.Anomalies = append(m.Anomalies, "mbox From_ line before the header")
		}
	}
	for off := 0; off < len(raw); {
		end := bytes.IndexByte(raw[off:], '\n')
		if end < 0 {
			end = len(raw) - off
		}
		line := bytes.TrimRight(raw[off:off+end], "\r")
		if len(line) == 0 {
			return raw // the header ends properly
		}
		continuation := line[0] == ' ' || line[0] == '\t'
		colon := bytes.IndexByte(line, ':')
		key := bytes.TrimRight(line[:max(colon, 0)], " \t") // "Subject :" is obsolete but seen
		field := len(key) > 0 && bytes.IndexAny(key, " \t") < 0
		if (off == 0 && continuation) || (!continuation && !field) {
			m.Anomalies = append(m.Anomalies, "header ended early at a line that is not a header field")
			if off == 0 {
				return append([]byte("\r\n"), raw...)
			}
			out := make([]byte, 0, len(raw)+2)
			out = append(out, raw[:off]...)
			out = append(out, '\r', '\n')
			return append(out, raw[off:]...)
		}
		off += end + 1
	}
	return raw
}

func headerEnd(raw []byte) int {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return i
	}
	return bytes.Index(raw, []byte("\n\n"))
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

func (m *Mail) readHeader() {
	h := m.Header
	m.MessageID, _ = h.MessageID()
	if m.MessageID == "" {
		m.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	m.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	m.References, _ = h.MsgIDList("References")
	m.From = m.addresses("From")
	m.ReplyTo = m.addresses("Reply-To")
	m.To = m.addresses("To")
	m.Cc = m.addresses("Cc")
	subj, err := h.Text("Subject")
	if err != nil {
		subj = h.Get("Subject")
		m.Anomalies = append(m.Anomalies, "subject: "+err.Error())
	}
	m.Subject = cleanHeaderText(subj)
	m.Date, _ = h.Date()
}

// addresses parses an address list leniently: a list that fails as a whole is retried
// one comma-separated piece at a time, so one bad entry does not hide the others.
func (m *Mail) addresses(key string) []Address {
	list, err := m.Header.AddressList(key)
	if err != nil {
		m.Anomalies = append(m.Anomalies, fmt.Sprintf("%s: %v", strings.ToLower(key), err))
		raw := m.Header.Get(key)
		for _, piece := range strings.Split(raw, ",") {
			if a, err := mail.ParseAddress(strings.TrimSpace(piece)); err == nil {
				list = append(list, a)
			}
		}
	}
	out := make([]Address, 0, len(list))
	for _, a := range list {
		out = append(out, Address{Name: cleanHeaderText(a.Name), Address: strings.ToLower(a.Address)})
	}
	return out
}

// cleanHeaderText removes control characters (CR/LF from encoded words among them), so a
// decoded display name or subject can never become an extra header line.
func cleanHeaderText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// textParts collects candidate bodies: the first text/plain wins over the first text/html.
type textParts struct {
	plain, html string
	havePlain   bool
	haveHTML    bool
	forwarded   string // text of attached message/rfc822 parts
}

func (t *textParts) best() string {
	if t.havePlain && strings.TrimSpace(t.plain) != "" {
		return t.plain
	}
	if t.haveHTML {
		return t.html
	}
	return t.plain
}

type walker struct {
	m     *Mail
	lim   Limits
	limit error
}

// walk reads entity e. raw, when not nil, is e's body before its transfer encoding was
// undone.
func (w *walker) walk(e *message.Entity, raw io.Reader, depth int, out *textParts) {
	if w.limit != nil {
		return
	}
	w.m.Parts++
	if w.m.Parts > w.lim.MaxParts {
		w.limit = &LimitError{Reason: fmt.Sprintf("more than %d MIME parts", w.lim.MaxParts)}
		return
	}
	if depth > w.lim.MaxDepth {
		w.limit = &LimitError{Reason: fmt.Sprintf("MIME nesting deeper than %d levels", w.lim.MaxDepth)}
		return
	}
	ctype, params, err := e.Header.ContentType()
	if err != nil || ctype == "" {
		ctype = "text/plain"
	}
	disp, dparams, _ := e.Header.ContentDisposition()

	if e.MultipartReader() != nil {
		// The parts are read at go-message's textproto level, so that each part's body is
		// also at hand still in its transfer encoding (see attachmentSize).
		mr := textproto.NewMultipartReader(e.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				w.m.Anomalies = append(w.m.Anomalies, "multipart: "+err.Error())
				break
			}
			part, err := message.New(message.Header{Header: p.Header}, p)
			if err != nil { // an unknown charset or encoding: the part is read as it is
				w.m.Anomalies = append(w.m.Anomalies, err.Error())
			}
			w.walk(part, p, depth+1, out)
			if w.limit != nil {
				return
			}
		}
		return
	}

	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = cleanHeaderText(decodeWord(name))
	attached := disp == "attachment" || (name != "" && !strings.HasPrefix(ctype, "text/"))

	switch {
	case ctype == "message/rfc822" || ctype == "message/global":
		body := w.read(e.Body, w.lim.MaxTextBytes*4)
		w.m.Attachments = append(w.m.Attachments, Attachment{Name: orDefault(name, "message.eml"), Type: ctype, Size: len(body)})
		inner, err := message.ReadWithOptions(bytes.NewReader(body), &message.ReadOptions{MaxHeaderBytes: int64(w.lim.MaxHeaderBytes)})
		if inner == nil {
			w.m.Anomalies = append(w.m.Anomalies, fmt.Sprintf("attached message: %v", err))
			return
		}
		var sub textParts
		w.walk(inner, nil, depth+1, &sub)
		ih := mail.Header{Header: inner.Header}
		subj, _ := ih.Subject()
		out.forwarded += "\n" + cleanHeaderText(subj) + "\n" + sub.best()
	case attached:
		n := w.attachmentSize(e, raw)
		w.m.Attachments = append(w.m.Attachments, Attachment{Name: orDefault(name, "attachment"), Type: ctype, Size: n})
	case ctype == "text/plain" && !out.havePlain:
		out.plain, out.havePlain = w.text(e, params), true
	case ctype == "text/html" && !out.haveHTML:
		out.html, out.haveHTML = HTMLToText(w.text(e, params)), true
	case strings.HasPrefix(ctype, "text/"):
		// A second text part is not read: the multipart reader skips what is left of it.
	default:
		n := w.attachmentSize(e, raw)
		w.m.Attachments = append(w.m.Attachments, Attachment{Name: orDefault(name, "part"), Type: ctype, Size: n})
	}
}

// text reads a text part. go-message has already decoded a known charset; for an unknown
// one the bytes are raw, so they are taken as UTF-8 when valid and as windows-1252 otherwise.
func (w *walker) text(e *message.Entity, params map[string]string) string {
	b := w.read(e.Body, w.lim.MaxTextBytes)
	if utf8.Valid(b) {
		return string(b)
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		w.m.Anomalies = append(w.m.Anomalies, fmt.Sprintf("charset %q not decoded; read as windows-1252", cs))
	}
	d, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(d)
}

// read reads at most limit bytes and drains (without keeping) the rest.
func (w *walker) read(r io.Reader, limit int) []byte {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)))
	if err != nil {
		w.m.Anomalies = append(w.m.Anomalies, "body: "+err.Error())
	}
	if n, _ := io.Copy(io.Discard, r); n > 0 {
		w.m.Anomalies = append(w.m.Anomalies, fmt.Sprintf("part cut to %d bytes", limit))
	}
	return b
}

// attachmentSize is the decoded size of an attachment, which is all triagem reads of it.
// A base64 body, the usual case, is counted in its encoded form: decoding it only to
// throw it away cost more than the rest of parsing a mail with a scan attached.
func (w *walker) attachmentSize(e *message.Entity, raw io.Reader) int {
	if raw == nil || !strings.EqualFold(strings.TrimSpace(e.Header.Get("Content-Transfer-Encoding")), "base64") {
		return w.discard(e.Body)
	}
	n, err := base64Size(raw)
	if err != nil {
		w.m.Anomalies = append(w.m.Anomalies, "attachment: "+err.Error())
	}
	return n
}

func (w *walker) discard(r io.Reader) int {
	n, err := io.Copy(io.Discard, r)
	if err != nil && !errors.Is(err, io.EOF) {
		w.m.Anomalies = append(w.m.Anomalies, "attachment: "+err.Error())
	}
	return int(n)
}

func decodeWord(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
