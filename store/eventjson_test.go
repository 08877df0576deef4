package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// randomString mixes what trips JSON encoders: quotes, backslashes, control characters,
// HTML characters, non-ASCII letters, U+2028 and U+2029, and invalid UTF-8.
func randomString(r *rand.Rand) string {
	pieces := []string{"a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&",
		"ã", "ç", "€", "日本", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x82", "😀", "'", "/", "=", "{}"}
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randomFloat(r *rand.Rand) float64 {
	switch r.IntN(6) {
	case 0:
		return float64(r.IntN(1000) - 500)
	case 1:
		return r.Float64()
	case 2:
		return r.Float64() * math.Pow(10, float64(r.IntN(50)-25))
	case 3:
		return -r.Float64() * 1e22
	case 4:
		return math.Round(r.Float64()*1e4) / 1e4
	}
	return 0
}

func randomValue(r *rand.Rand, depth int) any {
	n := 10
	if depth > 2 {
		n = 7
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return randomString(r)
	case 2:
		return r.IntN(2) == 0
	case 3:
		return r.Int64() - math.MaxInt64/2
	case 4:
		return randomFloat(r)
	case 5:
		if r.IntN(4) == 0 {
			return []string(nil)
		}
		s := make([]string, r.IntN(4))
		for i := range s {
			s[i] = randomString(r)
		}
		return s
	case 6:
		return struct { // not a type appendJSON knows: encoding/json's part
			A string `json:"a"`
			B int
		}{randomString(r), r.IntN(9)}
	case 7:
		m := map[string]float64{}
		for range r.IntN(4) {
			m[randomString(r)] = randomFloat(r)
		}
		return m
	case 8:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	}
	m := map[string]any{}
	for range r.IntN(5) {
		m[randomString(r)] = randomValue(r, depth+1)
	}
	return m
}

func TestAppendJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		v := randomValue(r, 0)
		want, wantErr := json.Marshal(v)
		got, err := appendJSON(nil, v)
		if (err != nil) != (wantErr != nil) || wantErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%#v:\nappendJSON    %s (%v)\nencoding/json %s (%v)", v, got, err, want, wantErr)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := appendJSON(nil, map[string]any{"x": f}); err == nil {
			t.Errorf("%v encoded without an error, as encoding/json would refuse it", f)
		}
	}
	if got, _ := appendJSON(nil, map[string]any{"at": time.Unix(0, 0).UTC(), "uid": uint32(7)}); string(got) != `{"at":"1970-01-01T00:00:00Z","uid":7}` {
		t.Errorf("other types: %s", got)
	}
}

// The chain hash of every event ever written was over encoding/json's bytes: the faster
// encoding must give the same hash, or old logs would fail verification.
func TestChainHashIsOverEncodingJSONsRow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		prev, typ, ref, data := randomString(r), randomString(r), randomString(r), randomString(r)
		if r.IntN(2) == 0 {
			enc, _ := json.Marshal(randomValue(r, 0))
			data = string(enc)
		}
		seq, at, msg := r.Int64N(1<<40), r.Int64N(1<<50), r.Int64N(1<<30)
		canon, _ := json.Marshal([]any{seq, at, typ, ref, msg, data})
		h := sha256.New()
		h.Write([]byte(prev + "\n"))
		h.Write(canon)
		if want, got := hex.EncodeToString(h.Sum(nil)), ChainHash(prev, seq, at, typ, ref, msg, data); got != want {
			t.Fatalf("ChainHash(%q, %d, %d, %q, %q, %d, %q) = %s, want %s", prev, seq, at, typ, ref, msg, data, got, want)
		}
	}
}

// A classified event's data is the Classification under its JSON tags, as it was when it
// went through encoding/json and back: a field added to the type must reach the log.
func TestClassificationFieldsAreItsJSON(t *testing.T) {
	full := Classification{Category: "refund", Confidence: 0.93, Action: "forward", Reasons: []string{"r <1>", "ã"}, NIFHash: "h",
		Identified: true, Disclaimer: true, To: []string{"a@b.pt"}, Rules: []string{"refund/x 2.5"}, Scores: map[string]float64{"refund": 2.5, "other": 1e-7},
		Method: "model+rules", Threshold: 0.6, Probabilities: map[string]float64{"refund": 0.93}, Features: []string{"w:x 1.2"},
		LLM: map[string]any{"model": "m", "confidence": 0.8, "effect": "agreed"}}
	// Every field set: a field the test does not set would hide a missing one in fields().
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test leaves Classification.%s empty", v.Type().Field(i).Name)
		}
	}
	for _, c := range []Classification{full, {Category: "other", Action: "review"}} {
		b, _ := json.Marshal(c)
		var viaJSON map[string]any
		if err := json.Unmarshal(b, &viaJSON); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(viaJSON)
		got, err := appendJSON(nil, c.fields())
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("fields():\n%s (%v)\nwant\n%s", got, err, want)
		}
	}
}
