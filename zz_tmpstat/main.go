package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
)

func main() {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		panic(err)
	}
	for _, dir := range []string{"dataset/eval/typical", "dataset/eval/hard", "dataset/eval/fresh"} {
		mails, _ := dataset.ReadLabelled(dir)
		for _, m := range mails {
			d, _ := ev.Evaluate(context.Background(), m.Raw)
			if d.Trace == nil || !d.Trace.Unsure || d.Category == "other" {
				continue
			}
			type kv struct {
				k string
				v float64
			}
			var ps []kv
			for k, v := range d.Trace.Probabilities {
				ps = append(ps, kv{k, v})
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].v > ps[j].v })
			next := ""
			if len(ps) > 1 {
				next = fmt.Sprintf("%s %.2f", ps[1].k, ps[1].v)
			}
			right := d.Category == m.Category
			for _, a := range m.AlsoOK {
				if a == d.Category {
					right = true
				}
			}
			review := false
			for _, h := range d.Trace.Hits {
				if h.Category == "other" {
					review = true
				}
			}
			fmt.Printf("%v\t%.2f\t%s\tnext %s\treviewrule=%v\t%s/%s\n", right, d.Confidence, d.Category, next, review, dir, m.Name)
		}
	}
}
