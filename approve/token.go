// Package approve is the approval-by-reply protocol: signed single-use reply addresses for
// drafts, and reading an agent's reply (approve, edit, reject) out of what a mail client
// sends back.
package approve

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Key is one signing key, named so keys can rotate: tokens name the key that signed them.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring signs with its first key and verifies with any.
type Keyring []Key

// ParseKeys reads "id:secret" entries separated by commas, spaces or newlines; the first
// signs new tokens. Secrets need 16 bytes or more.
func ParseKeys(s string) (Keyring, error) {
	var ring Keyring
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		id, secret, ok := strings.Cut(f, ":")
		if !ok || !validKeyID(id) || len(secret) < 16 {
			return nil, fmt.Errorf("approval key %q must be ID:SECRET, ID of 1-4 letters or digits, SECRET of 16 characters or more", redactKey(f))
		}
		ring = append(ring, Key{ID: id, Secret: []byte(secret)})
	}
	if len(ring) == 0 {
		return nil, errors.New("no approval key")
	}
	return ring, nil
}

func redactKey(f string) string {
	if id, _, ok := strings.Cut(f, ":"); ok {
		return id + ":…"
	}
	return "…"
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 4 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Claims are what a token binds together.
type Claims struct {
	Draft   int64
	Agent   string // lower-case address
	Expires time.Time
	// TextHash is the SHA-256 of the draft text, hex: a token approves exactly one text.
	TextHash string
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// macLen is 16 bytes of HMAC-SHA256: 128 bits, more than enough against forgery, and short
// enough for a 64-character local part.
const macLen = 16

// Sign returns a token for c: "keyid.draft.expiry.mac", lower case and safe in the local
// part of an address.
func (k Keyring) Sign(c Claims) string {
	key := k[0]
	head := key.ID + "." + strconv.FormatInt(c.Draft, 36) + "." + strconv.FormatInt(c.Expires.Unix(), 36)
	return head + "." + b32.EncodeToString(mac(key.Secret, head, c))
}

func mac(secret []byte, head string, c Claims) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "triagem-approval-v1\x00%s\x00%d\x00%s\x00%d\x00%s", head, c.Draft, strings.ToLower(c.Agent), c.Expires.Unix(), c.TextHash)
	return m.Sum(nil)[:macLen]
}

// Token errors, each a reason a refusal names.
var (
	ErrMalformed = errors.New("the reply address carries no well-formed token")
	ErrKey       = errors.New("the token names a key this instance does not have")
	ErrMAC       = errors.New("the token's signature does not match this draft, agent and text")
	ErrExpired   = errors.New("the token has expired")
)

// Parse reads the draft id and expiry out of a token without trusting them.
func Parse(token string) (draft int64, expires time.Time, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		return 0, time.Time{}, ErrMalformed
	}
	d, err1 := strconv.ParseInt(parts[1], 36, 64)
	e, err2 := strconv.ParseInt(parts[2], 36, 64)
	if err1 != nil || err2 != nil || d <= 0 {
		return 0, time.Time{}, ErrMalformed
	}
	return d, time.Unix(e, 0), nil
}

// Verify checks token against the claims the caller believes (the draft it names, the
// sender, the stored text hash) at time now.
func (k Keyring) Verify(token string, c Claims, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		return ErrMalformed
	}
	draft, expires, err := Parse(token)
	if err != nil {
		return err
	}
	got, err := b32.DecodeString(parts[3])
	if err != nil || len(got) != macLen {
		return ErrMalformed
	}
	var key *Key
	for i := range k {
		if k[i].ID == parts[0] {
			key = &k[i]
		}
	}
	if key == nil {
		return ErrKey
	}
	c.Draft, c.Expires = draft, expires
	if !hmac.Equal(got, mac(key.Secret, parts[0]+"."+parts[1]+"."+parts[2], c)) {
		return ErrMAC
	}
	if !now.Before(expires) {
		return ErrExpired
	}
	return nil
}

// Hash is how a token is stored: never the token itself.
func Hash(token string) string {
	s := sha256.Sum256([]byte("triagem-token\x00" + token))
	return hex.EncodeToString(s[:])
}

// TextHash is the hash a token binds for a draft text.
func TextHash(text string) string {
	s := sha256.Sum256([]byte(text))
	return hex.EncodeToString(s[:])
}

// Address formats the reply address for token from a pattern with "{token}", e.g.
// "suporte+{token}@medicoonline.pt".
func Address(pattern, token string) string { return strings.Replace(pattern, "{token}", token, 1) }

// FromAddress extracts the token of addr when addr matches pattern ("" when it does not).
func FromAddress(pattern, addr string) string {
	pre, post, ok := strings.Cut(strings.ToLower(pattern), "{token}")
	a := strings.ToLower(strings.TrimSpace(addr))
	if !ok || len(a) <= len(pre)+len(post) || !strings.HasPrefix(a, pre) || !strings.HasSuffix(a, post) {
		return ""
	}
	return a[len(pre) : len(a)-len(post)]
}
