package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/store/storetest"
)

// The auditors' target: a filtered query over a million events in under 50 ms. Run with
//
//	go test -run XXX -bench Million -benchtime 20x ./store
func BenchmarkMillionEventQueries(b *testing.B) {
	path := storetest.MillionDB(b)
	st, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var count int
	st.DB().QueryRow(`SELECT count(*) FROM events`).Scan(&count)
	b.Logf("%d events, %s", count, path)
	march := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	queries := map[string]store.Filter{
		"latest":                    {},
		"refund in March":           {Category: "refund", Since: march, Until: march.AddDate(0, 1, 0)},
		"clinical, not to clinical": {Category: "clinical", Action: "forward"},
		"to one address":            {Address: "rute.joao.externo@ageas.pt"},
		"one NIF":                   {NIFHash: storetest.NIFHash(1234)},
		"one agent":                 {Agent: "agente3@medicoonline.pt", Type: store.EvApproved},
		"failed":                    {Action: "failed"},
		"one case":                  {CaseRef: storetest.CaseRef(77_777)},
		"a day of sends":            {Type: store.EvSent, Since: march, Until: march.AddDate(0, 0, 1)},
		"review in a week":          {Action: "review", Since: march, Until: march.AddDate(0, 0, 7)},
		"one customer":              {Address: "cliente777@example.pt"},
	}
	for name, f := range queries {
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				evs, err := st.Events(context.Background(), f)
				if err != nil {
					b.Fatal(err)
				}
				n = len(evs)
			}
			b.ReportMetric(float64(n), "events")
		})
	}
}
