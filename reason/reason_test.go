package reason

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEveryCodeWritesAllItsValues(t *testing.T) {
	for _, code := range Codes() {
		r := Sample(code)
		args := r.Args
		s := r.String()
		for _, a := range args {
			if strings.Count(s, a) != 1 {
				t.Errorf("%s: %q holds %s %d times", code, s, a, strings.Count(s, a))
			}
		}
		if strings.ContainsAny(s, "{}") {
			t.Errorf("%s: %q has a placeholder left", code, s)
		}
	}
}

func TestTheLogKeepsTheEnglishSentence(t *testing.T) {
	r := New("below-threshold", "0.93", "0.97", "insurance")
	want := "probability 0.93 is below the 0.97 needed to route insurance automatically"
	if r.String() != want {
		t.Errorf("got %q", r.String())
	}
	b, err := json.Marshal([]Reason{r})
	if err != nil || string(b) != `["`+want+`"]` {
		t.Fatalf("json %s, %v", b, err)
	}
	var back []Reason
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 || back[0].String() != want {
		t.Errorf("read back %+v, %v", back, err)
	}
	if v := r.Values(); v["category"] != "insurance" || v["threshold"] != "0.97" {
		t.Errorf("values %v", v)
	}
}

func TestAWrongCountIsCaughtAtOnce(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a code with a value missing")
		}
	}()
	New("procedure", "only the label")
}
