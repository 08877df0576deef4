package approve

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// Authenticated reports whether the topmost Authentication-Results header written by
// authservID (RFC 8601) shows dkim=pass for domain, or dmarc=pass with header.from=domain.
// Headers from other servers are ignored: anyone can write one. The string says what was
// found, for the log.
func Authenticated(h mail.Header, authservID, domain string) (bool, string) {
	authservID, domain = strings.ToLower(authservID), strings.ToLower(domain)
	fields := h.Fields()
	for fields.Next() {
		if !strings.EqualFold(fields.Key(), "Authentication-Results") {
			continue
		}
		v := strings.ToLower(strings.Join(strings.Fields(fields.Value()), " "))
		parts := strings.Split(v, ";")
		id := strings.Fields(parts[0])
		if len(id) == 0 || id[0] != authservID {
			continue
		}
		// The topmost header from the trusted server decides, pass or fail.
		for _, res := range parts[1:] {
			words := strings.Fields(res)
			if len(words) == 0 {
				continue
			}
			method, result, _ := strings.Cut(words[0], "=")
			props := map[string]string{}
			for _, w := range words[1:] {
				if k, val, ok := strings.Cut(w, "="); ok {
					props[k] = strings.Trim(val, `"`)
				}
			}
			switch {
			case method == "dkim" && result == "pass" && (props["header.d"] == domain || strings.HasSuffix(props["header.i"], "@"+domain)):
				return true, "dkim=pass header.d=" + domain + " from " + authservID
			case method == "dmarc" && result == "pass" && props["header.from"] == domain:
				return true, "dmarc=pass header.from=" + domain + " from " + authservID
			}
		}
		return false, "the Authentication-Results of " + authservID + " show no dkim or dmarc pass for " + domain
	}
	return false, "no Authentication-Results header from " + authservID
}
