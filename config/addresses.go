package config

import (
	"sort"
	"strings"
)

// Recipients lists, lower-cased, every address the configuration names as a place to send
// to: departments, agents and the review escalation. The outbox refuses anything else
// (the customer's own address is allowed separately, per case).
func (c *Config) Recipients() map[string]bool {
	out := c.Departments()
	for a := range AddressSet(append([]string{c.Team.ReviewEscalation}, c.Team.Agents...)...) {
		out[a] = true
	}
	return out
}

// Departments is the set of every category's To and CC addresses, lower-cased.
func (c *Config) Departments() map[string]bool {
	var all []string
	for _, cat := range c.Categories {
		all = append(append(all, cat.To...), cat.Cc...)
	}
	return AddressSet(all...)
}

// AddressSet parses each of list ("Name <a@b>" or "a@b") into a lower-cased set; entries
// that are not addresses (or empty) are left out.
func AddressSet(list ...string) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		if a, err := ParseAddress(s); err == nil {
			out[a.Address] = true
		}
	}
	return out
}

// OwnAddresses is the team's identity, its extra own addresses and the inbox logins: mail from
// any of them is never treated as a customer's.
func (c *Config) OwnAddresses() map[string]bool {
	out := map[string]bool{}
	for _, s := range append([]string{c.Team.From}, c.Team.OwnAddresses...) {
		if a, err := ParseAddress(s); err == nil {
			out[a.Address] = true
		}
	}
	for _, in := range c.Inboxes {
		if strings.Contains(in.User, "@") {
			out[strings.ToLower(in.User)] = true
		}
	}
	return out
}

// RewriteDomains replaces the domain of every configured address with domain, keeping the
// local part, so tests and the demo can never reach a real department.
func (c *Config) RewriteDomains(domain string) {
	c.RewriteAddresses(func(local, _ string) string { return local + "@" + domain })
}

// RewriteAddresses replaces every configured address (departments, agents, own addresses,
// the team's From and the review escalation) with fn(local, domain).
func (c *Config) RewriteAddresses(fn func(local, domain string) string) {
	rw := func(s string) string {
		a, err := ParseAddress(s)
		if err != nil {
			return s
		}
		at := strings.LastIndexByte(a.Address, '@')
		a.Address = fn(a.Address[:at], a.Address[at+1:])
		if a.Name == "" {
			return a.Address
		}
		return a.String()
	}
	rwAll := func(list []string) {
		for i := range list {
			list[i] = rw(list[i])
		}
	}
	for i := range c.Categories {
		rwAll(c.Categories[i].To)
		rwAll(c.Categories[i].Cc)
	}
	rwAll(c.Team.Agents)
	rwAll(c.Team.OwnAddresses)
	c.Team.From = rw(c.Team.From)
	if c.Team.ReviewEscalation != "" {
		c.Team.ReviewEscalation = rw(c.Team.ReviewEscalation)
	}
}

// FormSenders is the set of team.form_senders.
func (c *Config) FormSenders() map[string]bool { return AddressSet(c.Team.FormSenders...) }

// SortedKeys returns the keys of a set in order, for stable output.
func SortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
