package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// resolve returns the value of a key from the first source that has it,
// with its Source* constant and a description of its origin for errors.
// A key with no value anywhere and no default yields nil.
func (l *loader) resolve(def keyDef) (any, string, string) {
	if v, ok := l.overrides[def.name]; ok {
		return v, SourceFlag, "flag"
	}
	if v, ok := l.env(EnvName(def.name)); ok {
		return v, SourceEnv, "env " + EnvName(def.name)
	}
	if l.fv != nil {
		// Get finds nested ("smtp: {host: x}") and dotted ("smtp.host: x")
		// spellings alike; a YAML null counts as absent.
		if v := l.fv.Get(def.name); v != nil {
			switch def.kind {
			case kindPath:
				v = l.relativeToFile(v)
			case kindPaths:
				if list, ok := asList(v); ok {
					out := make([]any, len(list))
					for i, p := range list {
						out[i] = l.relativeToFile(p)
					}
					v = out
				}
			}
			return v, SourceFile, "file " + l.file
		}
	}
	if def.azureEnv != "" {
		if v, ok := l.env(def.azureEnv); ok {
			return v, SourceAzureEnv, "azure-env " + def.azureEnv
		}
	}
	if def.defFunc != nil {
		return def.defFunc(l.denv), SourceDefault, "default"
	}
	return def.def, SourceDefault, "default"
}

// relativeToFile makes a relative path from the file relative to the file's
// directory, so /etc/graphmail/config.yaml can say "client_certificate:
// cert.pem". "none" (token_cache.path) is left alone.
func (l *loader) relativeToFile(v any) any {
	s, ok := v.(string)
	if !ok || s == "" || s == "none" || filepath.IsAbs(s) {
		return v
	}
	return filepath.Join(filepath.Dir(l.file), s)
}

// value resolves a key, records its source and converts it to its kind.
// A value that does not convert is reported, the key is marked bad, and
// the zero value (or what could be converted) is returned.
func (l *loader) value(def keyDef) any {
	raw, source, origin := l.resolve(def)
	l.sources[def.name], l.origins[def.name] = source, origin
	return convert(def, raw, func(problem, hint string) {
		l.bad[def.name] = true
		l.fail(def.name, problem, hint, nil)
	})
}

// convert turns raw, as a source gave it, into the Go type of def's kind
// (for kindEnum and kindSecret, a string). nil, a key without any value,
// is the zero value. Each problem is passed to report; neither problem nor
// hint contains the value, except the entries of a list of networks.
func convert(def keyDef, raw any, report func(problem, hint string)) any {
	if raw == nil {
		return zero(def.kind)
	}
	switch def.kind {
	case kindInt:
		n, ok := asInt(raw)
		if !ok {
			report("not a whole number", "write a number such as 587")
		}
		return n
	case kindBool:
		b, ok := asBool(raw)
		if !ok {
			report("not true or false", "write true or false")
		}
		return b
	case kindDuration:
		s, ok := asString(raw)
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if !ok || err != nil || d < 0 {
			report("not a duration", "write a duration such as 90s or 2m")
			return time.Duration(0)
		}
		return d
	case kindSize:
		n, ok := asSize(raw)
		if !ok {
			report("not a size", "write a size such as 35MB, 512KB or a number of bytes")
		}
		return n
	case kindList, kindNets:
		list, ok := asList(raw)
		if !ok {
			report("not a list", "write a list, e.g. [127.0.0.0/8, 10.1.2.0/24], or comma-separated values in an environment variable")
		}
		if def.kind == kindList {
			return list
		}
		return asNets(list, report)
	case kindPaths:
		list, ok := asList(raw)
		if !ok {
			report("not a file or a list of files", "write one path, or a list of two during a rotation: [new.txt, old.txt] (comma-separated in an environment variable)")
			return []string(nil)
		}
		list = slices.DeleteFunc(list, isEmpty)
		if len(list) > 2 {
			report(fmt.Sprintf("lists %d files; at most two are used", len(list)), "list the current file and, during a rotation, the one that replaces it")
			list = list[:2]
		}
		if len(list) == 0 {
			return []string(nil)
		}
		return list
	case kindDate:
		t, ok := asDate(raw)
		if !ok {
			report("not a date", "write a date such as 2026-03-31 (or an RFC 3339 time)")
		}
		return t
	case kindAccounts:
		a, ok := asAccounts(raw)
		if !ok {
			report("not a table of accounts", "write it in the config file: serve: {accounts: {NAME: {password_hash: '$argon2id$...', allowed_from: [a@contoso.com], mailbox: scanner@contoso.com}}}")
		}
		return a
	case kindRewrite:
		r, problem := asRewrite(raw)
		if problem != "" {
			report(problem, "write it in the config file as a list of rules: serve: {rewrite: [{accounts: [scanner], nets: [10.1.2.0/24], from: mailbox, reply_to: true, drop_address_names: true, subject_prefix: '[scan] ', qualify: true}]}")
		}
		return r
	}
	s, ok := asString(raw)
	if !ok {
		report("expected a single value, got "+describe(raw), "write one value; quote it if it contains special characters")
		return ""
	}
	switch def.kind {
	case kindSecret:
		return s
	case kindURL:
		return strings.TrimRight(strings.TrimSpace(s), "/")
	case kindEnum:
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(def.choices, s) {
			problem, hint := choiceProblem(def.choices), def.hint
			if hint == "" {
				hint = "use one of " + strings.Join(slices.DeleteFunc(slices.Clone(def.choices), isEmpty), ", ")
			}
			report(problem, hint)
		}
		return s
	}
	return strings.TrimSpace(s)
}

// zero is the value of a key of kind k that has no value at all.
func zero(k kind) any {
	switch k {
	case kindInt:
		return 0
	case kindBool:
		return false
	case kindDuration:
		return time.Duration(0)
	case kindSize:
		return int64(0)
	case kindList, kindPaths:
		return []string(nil)
	case kindDate:
		return time.Time{}
	case kindNets:
		return []netip.Prefix(nil)
	case kindAccounts:
		return map[string]Account(nil)
	case kindRewrite:
		return []Rewrite(nil)
	}
	return ""
}

// isEmpty reports whether s is "", the choice of leaving an enum unset.
func isEmpty(s string) bool { return s == "" }

// choiceProblem says that a value is none of choices: "not one of a, b,
// c", or "not empty or a" when an empty value and one other are allowed.
func choiceProblem(choices []string) string {
	named := slices.DeleteFunc(slices.Clone(choices), isEmpty)
	if len(named) == 1 && len(choices) == 2 {
		return "not empty or " + named[0]
	}
	return "not one of " + strings.Join(named, ", ")
}

// asString accepts strings and, leniently, scalars a parser may have typed.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(x), true
	}
	return "", false
}

// asInt accepts integers, integral floats (JSON) and decimal strings (env).
func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case uint64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

// sizeUnits are the units a size may carry; like Exchange, KB and MB are
// binary multiples.
var sizeUnits = map[string]int64{"": 1, "b": 1, "kb": 1 << 10, "kib": 1 << 10, "k": 1 << 10,
	"mb": 1 << 20, "mib": 1 << 20, "m": 1 << 20, "gb": 1 << 30, "gib": 1 << 30, "g": 1 << 30}

// asSize accepts a whole number of bytes, or one with a unit ("35MB",
// "512 KiB"). Negative sizes are refused.
func asSize(v any) (int64, bool) {
	if n, ok := asInt(v); ok {
		return int64(n), n >= 0
	}
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, false
	}
	mult, ok := sizeUnits[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<50 {
		return 0, false
	}
	return int64(f * float64(mult)), true
}

// asDate accepts a date (2006-01-02, taken as the end of that day in UTC,
// as the portal's "Expires" column means it), an RFC 3339 time, or a
// time.Time a parser made; "" is the zero time.
func asDate(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, true
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.Add(24*time.Hour - time.Second), true
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// asBool accepts booleans and the strings strconv.ParseBool knows.
func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(x)))
		return b, err == nil
	}
	return false, false
}

// describe names the shape of a value without showing it.
func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}

// asNets parses networks in CIDR form; a bare address is the network of
// that one host (/32 or /128). Each entry that is neither is reported and
// left out.
func asNets(list []string, report func(problem, hint string)) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range list {
		p, err := parseNet(n)
		if err != nil {
			report(fmt.Sprintf("%q is not a network", n), "write networks in CIDR form, e.g. 10.1.2.0/24 or 127.0.0.1/32")
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseNet reads a network in CIDR form; a bare address is one host.
func parseNet(n string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(n)
	if err == nil {
		return p, nil
	}
	addr, err := netip.ParseAddr(n)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// asList accepts a list of scalars, or a comma-separated string.
func asList(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...), true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := asString(e)
			if !ok {
				return nil, false
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, true
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, true
		}
		parts := strings.Split(x, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, true
	}
	return nil, false
}

// asAccounts accepts a table NAME → {password_hash, allowed_from}.
func asAccounts(v any) (map[string]Account, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return nil, x == ""
	case map[string]any:
		out := make(map[string]Account, len(x))
		for name, raw := range x {
			m, ok := raw.(map[string]any)
			if !ok {
				return nil, false
			}
			var a Account
			for k, val := range m {
				switch strings.ToLower(k) {
				case "password_hash":
					if a.PasswordHash, ok = val.(string); !ok {
						return nil, false
					}
				case "allowed_from":
					if a.AllowedFrom, ok = asList(val); !ok {
						return nil, false
					}
				case "mailbox":
					if a.Mailbox, ok = val.(string); !ok {
						return nil, false
					}
				default:
					return nil, false
				}
			}
			out[name] = a
		}
		return out, true
	}
	return nil, false
}

// asRewrite reads serve.rewrite: a list of tables with the fields of
// Rewrite. It returns a problem naming the first thing wrong.
func asRewrite(v any) ([]Rewrite, string) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, ""
	case string:
		if x == "" {
			return nil, ""
		}
		return nil, "not a list of rules"
	case []any:
		items = x
	case []map[string]any:
		for _, m := range x {
			items = append(items, m)
		}
	default:
		return nil, "not a list of rules"
	}
	out := make([]Rewrite, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Sprintf("rule %d is not a table", i+1)
		}
		var r Rewrite
		for k, val := range m {
			bad := func(what string) string { return fmt.Sprintf("rule %d: %s is not %s", i+1, k, what) }
			switch strings.ToLower(k) {
			case "accounts":
				if r.Accounts, ok = asList(val); !ok {
					return nil, bad("a list of account names")
				}
			case "nets":
				list, ok := asList(val)
				if !ok {
					return nil, bad("a list of networks")
				}
				for _, n := range list {
					p, err := parseNet(n)
					if err != nil {
						return nil, bad("a list of networks (" + n + ")")
					}
					r.Nets = append(r.Nets, p)
				}
			case "from":
				s, _ := val.(string)
				switch strings.ToLower(strings.TrimSpace(s)) {
				case "mailbox":
					r.FromMailbox = true
				case "", "keep":
				default:
					return nil, bad("mailbox or keep")
				}
			case "reply_to", "drop_address_names", "qualify":
				b, ok := val.(bool)
				if !ok {
					return nil, bad("true or false")
				}
				switch strings.ToLower(k) {
				case "reply_to":
					r.ReplyTo = b
				case "drop_address_names":
					r.DropAddressNames = b
				default:
					r.Qualify = b
				}
			case "subject_prefix":
				s, ok := val.(string)
				if !ok || strings.ContainsAny(s, "\r\n\x00") {
					return nil, bad("one line of text")
				}
				r.SubjectPrefix = s
			default:
				return nil, fmt.Sprintf("rule %d: unknown field %s (accounts, nets, from, reply_to, drop_address_names, subject_prefix, qualify)", i+1, k)
			}
		}
		out = append(out, r)
	}
	return out, ""
}
