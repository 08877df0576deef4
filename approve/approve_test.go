package approve

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

func ring(t *testing.T, s string) Keyring {
	t.Helper()
	k, err := ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenSignVerify(t *testing.T) {
	k := ring(t, "k2:0123456789abcdef0123, k1:fedcba9876543210fedc")
	now := time.Unix(1_750_000_000, 0)
	c := Claims{Draft: 42, Agent: "ana@team.example", Expires: now.Add(72 * time.Hour), TextHash: TextHash("texto")}
	tok := k.Sign(c)
	if !strings.HasPrefix(tok, "k2.") || len("suporte+"+tok) > 64 || strings.ToLower(tok) != tok {
		t.Fatalf("token %q: must name its key, fit a local part, and be lower case", tok)
	}
	if err := k.Verify(tok, Claims{Agent: "ana@team.example", TextHash: c.TextHash}, now); err != nil {
		t.Fatalf("a good token: %v", err)
	}
	bad := map[string]struct {
		tok string
		c   Claims
		now time.Time
		err error
	}{
		"another agent": {tok, Claims{Agent: "rui@team.example", TextHash: c.TextHash}, now, ErrMAC},
		"another text":  {tok, Claims{Agent: c.Agent, TextHash: TextHash("outro")}, now, ErrMAC},
		"expired":       {tok, Claims{Agent: c.Agent, TextHash: c.TextHash}, now.Add(73 * time.Hour), ErrExpired},
		"other draft":   {strings.Replace(tok, ".16.", ".17.", 1), Claims{Agent: c.Agent, TextHash: c.TextHash}, now, ErrMAC},
		"longer expiry": {retime(tok, now.Add(1000*time.Hour)), Claims{Agent: c.Agent, TextHash: c.TextHash}, now, ErrMAC},
		"wrong MAC":     {tok[:len(tok)-3] + "aaa", Claims{Agent: c.Agent, TextHash: c.TextHash}, now, ErrMAC},
		"unknown key":   {"k9" + tok[2:], Claims{Agent: c.Agent, TextHash: c.TextHash}, now, ErrKey},
		"malformed":     {"hello", Claims{Agent: c.Agent}, now, ErrMalformed},
		"truncated MAC": {tok[:len(tok)-5], Claims{Agent: c.Agent, TextHash: c.TextHash}, now, ErrMalformed},
	}
	for name, b := range bad {
		if err := k.Verify(b.tok, b.c, b.now); err != b.err {
			t.Errorf("%s: %v, want %v", name, err, b.err)
		}
	}
	// Rotation: a token signed by the old key still verifies while that key is kept.
	old := ring(t, "k1:fedcba9876543210fedc").Sign(c)
	if err := k.Verify(old, Claims{Agent: c.Agent, TextHash: c.TextHash}, now); err != nil {
		t.Errorf("a token of the previous key: %v", err)
	}
	if Hash(tok) == tok || len(Hash(tok)) != 64 {
		t.Error("Hash must not be the token")
	}
}

func retime(tok string, exp time.Time) string {
	p := strings.Split(tok, ".")
	p[2] = itoa36(exp.Unix())
	return strings.Join(p, ".")
}

func itoa36(n int64) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	s := ""
	for n > 0 {
		s = string(digits[n%36]) + s
		n /= 36
	}
	return s
}

func TestParseKeys(t *testing.T) {
	for _, bad := range []string{"", "k1", "k1:short", "TOOLONG:0123456789abcdef", "k 1:0123456789abcdef"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
	if _, err := ParseKeys("k1:0123456789abcdef"); err != nil {
		t.Error(err)
	}
}

func TestAddress(t *testing.T) {
	p := "suporte+{token}@medicoonline.pt"
	a := Address(p, "k1.a.b.c")
	if a != "suporte+k1.a.b.c@medicoonline.pt" || FromAddress(p, strings.ToUpper(a)) != "k1.a.b.c" {
		t.Errorf("Address/FromAddress: %q", a)
	}
	for _, no := range []string{"suporte@medicoonline.pt", "suporte+x@other.pt", "outro+x@medicoonline.pt"} {
		if FromAddress(p, no) != "" {
			t.Errorf("FromAddress(%q) found a token", no)
		}
	}
}

func TestRead(t *testing.T) {
	draft := "Caro(a) cliente,\n\nO seu pedido foi encaminhado.\n\nCom os melhores cumprimentos"
	cases := []struct {
		text string
		want Action
		edit string
	}{
		{"APROVAR\n", Approve, ""},
		{"  ok.  \n\nAna", Approve, ""},
		{"Sim", Approve, ""},
		{"rejeitar", Reject, ""},
		{"REJEITAR!", Reject, ""},
		// The teams of the other procedures (docs/PROCEDURES.md) answer in their language.
		{"Sí.", Approve, ""},
		{"RECHAZAR", Reject, ""},
		{"Одобрить\n\nИрина", Approve, ""},
		{"ОТКЛОНИТЬ", Reject, ""},
		{"Да, но исправьте дату приёма.", Edit, "Да, но исправьте дату приёма."},
		{"", None, ""},
		{"\n\n", None, ""},
		{"Caro Sr. Rui,\nA sua fatura segue hoje.\n\n-- \nAna Agente\nApoio", Edit, "Caro Sr. Rui,\nA sua fatura segue hoje."},
		{"Bom dia, já tratámos.\n\nEnviado do meu iPhone", Edit, "Bom dia, já tratámos."},
		// A client that pasted the draft under the edit without quote marks.
		{"Texto novo do agente.\n\nO seu pedido foi encaminhado.\n\nCom os melhores cumprimentos", Edit, "Texto novo do agente."},
		{"Aprovar e enviar já, por favor", Edit, "Aprovar e enviar já, por favor"},
	}
	for _, c := range cases {
		r := Read(c.text, draft)
		if r.Action != c.want || r.Text != c.edit {
			t.Errorf("Read(%q) = %+v, want %s %q", c.text, r, c.want, c.edit)
		}
	}
}

func TestDiff(t *testing.T) {
	d := Diff("a\nb\nc", "a\nB\nc\nd")
	want := "  a\n- b\n+ B\n  c\n+ d\n"
	if d != want {
		t.Errorf("Diff = %q, want %q", d, want)
	}
}

func TestAuthenticated(t *testing.T) {
	h := func(values ...string) mail.Header {
		var hdr mail.Header
		for i := len(values) - 1; i >= 0; i-- {
			hdr.Add("Authentication-Results", values[i])
		}
		return hdr
	}
	cases := []struct {
		hdr  mail.Header
		want bool
	}{
		{h("mx.team.example; dkim=pass header.d=team.example header.s=s1; spf=pass"), true},
		{h("mx.team.example; dkim=fail header.d=team.example; dmarc=pass header.from=team.example"), true},
		{h("mx.team.example; dkim=fail header.d=team.example"), false},
		{h("mx.team.example; dkim=pass header.d=evil.example"), false},
		// A header from another server saying pass counts for nothing.
		{h("evil.example; dkim=pass header.d=team.example", "mx.team.example; dkim=fail header.d=team.example"), false},
		// Only the topmost header of the trusted server decides.
		{h("mx.team.example; dkim=fail header.d=team.example", "mx.team.example; dkim=pass header.d=team.example"), false},
		{h(), false},
	}
	for i, c := range cases {
		if got, why := Authenticated(c.hdr, "mx.team.example", "team.example"); got != c.want {
			t.Errorf("case %d: %v (%s), want %v", i, got, why, c.want)
		}
	}
}
