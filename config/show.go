package config

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Setting is one effective configuration value, for display: secrets are
// already redacted.
type Setting struct {
	// Key is the dotted key, e.g. "smtp.host".
	Key string
	// Value is the value as text; a secret shows as "[redacted]".
	Value string
	// Source says where it came from: flag, env, file, azure-env or default.
	Source string
}

// Settings lists every key with its effective value and source, in the
// order of the documentation. Secrets are redacted; relay account
// password hashes are not shown.
func (c *Config) Settings() []Setting {
	out := make([]Setting, 0, len(keyTable))
	for _, k := range keyTable {
		out = append(out, Setting{Key: k.name, Value: k.show(c), Source: c.Sources[k.name]})
	}
	return out
}

// show renders the value of key k in c as text.
func (k keyDef) show(c *Config) string {
	switch v := k.field(c).(type) {
	case *Secret:
		return v.String()
	case *int:
		return strconv.Itoa(*v)
	case *int64:
		return strconv.FormatInt(*v, 10)
	case *bool:
		return strconv.FormatBool(*v)
	case *time.Duration:
		return v.String()
	case *time.Time:
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format(time.RFC3339)
	case *[]string:
		return strings.Join(*v, ",")
	case *[]netip.Prefix:
		parts := make([]string, len(*v))
		for i, p := range *v {
			parts[i] = p.String()
		}
		return strings.Join(parts, ",")
	case *map[string]Account:
		return accountsText(*v)
	case *[]Rewrite:
		return rewriteText(*v)
	}
	return reflect.ValueOf(k.field(c)).Elem().String() // string and the named string types
}
