package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// CheckPassword reports whether password matches a bcrypt or argon2id (PHC) hash.
func CheckPassword(hash, password string) bool {
	switch {
	case strings.HasPrefix(hash, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case strings.HasPrefix(hash, "$argon2id$"):
		// $argon2id$v=19$m=65536,t=3,p=2$SALT$HASH (unpadded standard base64)
		parts := strings.Split(hash, "$")
		if len(parts) != 6 || parts[2] != "v=19" {
			return false
		}
		var m, t uint32
		var p uint8
		for _, kv := range strings.Split(parts[3], ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return false
			}
			switch k {
			case "m":
				m = uint32(n)
			case "t":
				t = uint32(n)
			case "p":
				p = uint8(n)
			}
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
		want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
		if err1 != nil || err2 != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
			return false
		}
		got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
		return subtle.ConstantTimeCompare(got, want) == 1
	}
	return false
}

// HashPassword makes an argon2id hash in PHC form for config.toml.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const m, t, p = 64 * 1024, 3, 2
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// sessions are server-side: the cookie holds only a random id.
type sessions struct {
	mu   sync.Mutex
	ttl  time.Duration
	byID map[string]session
}

type session struct {
	user    string
	expires time.Time
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness failed: nothing can be made safe
	}
	return hex.EncodeToString(b)
}

func (s *sessions) create(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID()
	s.byID[id] = session{user, time.Now().Add(s.ttl)}
	for k, v := range s.byID { // drop expired sessions as new ones come
		if time.Now().After(v.expires) {
			delete(s.byID, k)
		}
	}
	return id
}

func (s *sessions) user(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok || time.Now().After(v.expires) {
		delete(s.byID, id)
		return "", false
	}
	return v.user, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// csrf tokens for the login and logout forms: an HMAC of a random per-browser value kept
// in a cookie (double submit, bound to the server's secret).
type csrf struct{ secret []byte }

func (c csrf) token(nonce string) string {
	h := sha256.Sum256(append(append([]byte{}, c.secret...), []byte("csrf\x00"+nonce)...))
	return hex.EncodeToString(h[:16])
}

func (c csrf) valid(nonce, token string) bool {
	return nonce != "" && subtle.ConstantTimeCompare([]byte(c.token(nonce)), []byte(token)) == 1
}
