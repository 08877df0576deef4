package approve

import (
	"testing"
	"time"
)

// FuzzToken: no string but a signed one verifies, and parsing never panics.
func FuzzToken(f *testing.F) {
	k, _ := ParseKeys("k1:0123456789abcdef0123")
	good := k.Sign(Claims{Draft: 7, Agent: "a@b.pt", Expires: time.Unix(2_000_000_000, 0), TextHash: TextHash("x")})
	f.Add(good)
	f.Add("k1.7.x.y")
	f.Add("....")
	f.Add("k1.-1.0.aaaa")
	f.Fuzz(func(t *testing.T, tok string) {
		Parse(tok)
		err := k.Verify(tok, Claims{Agent: "a@b.pt", TextHash: TextHash("x")}, time.Unix(1_900_000_000, 0))
		if err == nil && tok != good {
			t.Errorf("a forged token verified: %q", tok)
		}
		Read(tok, "draft")
		FromAddress("suporte+{token}@x.pt", tok)
	})
}
