package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Options tells Load where to look. The zero value searches the default
// places, reads the process environment and does not require credentials.
type Options struct {
	// ConfigFile is the file named by --config. "" means: the file named by
	// GRAPHMAIL_CONFIG, else the first existing file of SearchPaths. A file
	// named here or by GRAPHMAIL_CONFIG must exist.
	ConfigFile string
	// Overrides holds values from command-line flags, by dotted key
	// ("sender", "smtp.host"). They beat every other source and are
	// recorded as "flag". Put only flags the user set; nil values are
	// ignored. Unknown keys are reported as errors.
	Overrides map[string]any
	// LookupEnv reads an environment variable; nil means os.LookupEnv.
	// Load reads the environment only through it. A variable set to ""
	// counts as unset.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment as "NAME=value" entries; Load uses it
	// only to report unknown GRAPHMAIL_* variables. nil means os.Environ
	// when LookupEnv is nil too; when LookupEnv is set and Environ is nil,
	// the unknown-variable check is skipped.
	Environ func() []string
	// SearchPaths are the files tried, in order, when neither ConfigFile
	// nor GRAPHMAIL_CONFIG names one; nil means DefaultSearchPaths.
	SearchPaths []string
	// RequireCredentials makes Load insist on what talking to the tenant
	// needs: tenant_id, client_id, sender, exactly one credential, and
	// readable credential and CA files. Commands that never reach the
	// network (version, --dry-run) leave it false and may get a partial
	// Config.
	RequireCredentials bool
}

// DefaultSearchPaths returns the files Load tries when no file is named:
// ./graphmail.yaml, $XDG_CONFIG_HOME/graphmail/config.yaml (XDG_CONFIG_HOME
// defaults to $HOME/.config; skipped when neither is set) and
// /etc/graphmail/config.yaml. lookupEnv nil means os.LookupEnv.
func DefaultSearchPaths(lookupEnv func(string) (string, bool)) []string {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	paths := []string{"graphmail.yaml"}
	if dir, ok := lookupEnv("XDG_CONFIG_HOME"); ok && dir != "" {
		paths = append(paths, filepath.Join(dir, "graphmail", "config.yaml"))
	} else if home, ok := lookupEnv("HOME"); ok && home != "" {
		paths = append(paths, filepath.Join(home, ".config", "graphmail", "config.yaml"))
	}
	return append(paths, "/etc/graphmail/config.yaml")
}

// loader carries the state of one Load call.
type loader struct {
	opts      Options
	lookupEnv func(string) (string, bool)
	environ   func() []string
	overrides map[string]any // lower-case keys

	file string       // path of the file read, "" when none
	fv   *viper.Viper // the file's contents; nil when there is no file

	defaults map[string]any
	sources  map[string]string // key → Source* constant
	origins  map[string]string // key → "env GRAPHMAIL_X", "file /p", …
	bad      map[string]bool   // keys whose value could not be converted
	errs     Errors
}

// Load reads the configuration, resolves defaults and validates the result
// before anything touches the network. It returns either a complete Config
// or an Errors listing every problem found.
//
// Each key takes the first value found in: Options.Overrides ("flag"),
// GRAPHMAIL_* variables ("env"), the configuration file ("file"), the
// AZURE_* variables of azidentity ("azure-env"), then the built-in default
// ("default"). See the package documentation for the details.
func Load(opts Options) (*Config, error) {
	l := &loader{
		opts:      opts,
		lookupEnv: opts.LookupEnv,
		environ:   opts.Environ,
		overrides: map[string]any{},
		sources:   map[string]string{},
		origins:   map[string]string{},
		bad:       map[string]bool{},
	}
	if l.lookupEnv == nil {
		l.lookupEnv = os.LookupEnv
		if l.environ == nil {
			l.environ = os.Environ
		}
	}
	l.readOverrides()
	l.checkEnviron()
	l.readFile()
	cfg := l.build()
	l.validate(cfg)
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return cfg, nil
}

// fail records a problem with key, naming the source of its value.
func (l *loader) fail(key, problem, hint string, cause error) {
	l.errs = append(l.errs, &Error{Key: key, Problem: problem, Hint: hint, Source: l.origins[key], Err: cause})
}

// env returns a non-empty environment variable.
func (l *loader) env(name string) (string, bool) {
	v, ok := l.lookupEnv(name)
	return v, ok && v != ""
}

// readOverrides normalises the keys of Options.Overrides.
func (l *loader) readOverrides() {
	names := make([]string, 0, len(l.opts.Overrides))
	for k := range l.opts.Overrides {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := l.opts.Overrides[k]
		key := strings.ToLower(k)
		if _, ok := lookupKey(key); !ok {
			l.unknown(key, "unknown key (given as a flag override)", Keys())
			continue
		}
		if v != nil {
			l.overrides[key] = v
		}
	}
}

// unknown records an unknown key or variable, suggesting the closest valid
// name or listing all of them.
func (l *loader) unknown(name, problem string, valid []string) {
	hint := "valid names are " + strings.Join(valid, ", ")
	if s := suggest(name, valid); s != "" {
		hint = "did you mean " + s + "?"
	}
	l.errs = append(l.errs, &Error{Key: name, Problem: problem, Hint: hint})
}

// checkEnviron reports GRAPHMAIL_* variables that match no key.
func (l *loader) checkEnviron() {
	if l.environ == nil {
		return
	}
	valid := make([]string, 0, len(keyTable))
	for _, k := range keyTable {
		valid = append(valid, EnvName(k.name))
	}
	var unknown []string
	for _, kv := range l.environ() {
		name, value, _ := strings.Cut(kv, "=")
		if value != "" && strings.HasPrefix(name, envPrefix) && name != EnvConfig && !slices.Contains(valid, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range slices.Compact(unknown) {
		l.unknown(name, "unknown environment variable", append(valid, EnvConfig))
	}
}

// readFile finds, reads and parses the configuration file, then reports
// keys in it that graphmail does not know.
func (l *loader) readFile() {
	path, explicit := l.opts.ConfigFile, l.opts.ConfigFile != ""
	if !explicit {
		path, explicit = l.env(EnvConfig)
	}
	if !explicit {
		search := l.opts.SearchPaths
		if search == nil {
			search = DefaultSearchPaths(l.lookupEnv)
		}
		path = ""
		for _, p := range search {
			if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
				path = p
				break
			}
		}
		if path == "" {
			return
		}
	}
	l.origins["config"] = "file " + path

	data, err := os.ReadFile(path)
	if err != nil {
		hint := "check the path and its permissions"
		if errors.Is(err, fs.ErrNotExist) {
			hint = "check the path given by --config or " + EnvConfig + ", or create the file"
		}
		l.fail("config", "cannot read "+path+": "+causeText(err), hint, err)
		return
	}
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch format {
	case "", "yml":
		format = "yaml"
	case "yaml", "toml", "json":
	default:
		l.fail("config", "cannot read "+path+": unsupported file type ."+format,
			"use a .yaml, .yml, .toml or .json file", nil)
		return
	}
	fv := viper.New()
	fv.SetConfigType(format)
	if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
		// Parser messages carry a position, not the file's text.
		l.fail("config", "cannot parse "+path+" as "+strings.ToUpper(format)+": "+causeText(err)+position(err),
			"fix the syntax there", err)
		return
	}
	l.file, l.fv = path, fv
	l.checkFileKeys()
}

// causeText returns the innermost useful message of err: the OS reason of
// a *fs.PathError, the parser's message of a viper.ConfigParseError.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var cpe viper.ConfigParseError
	if errors.As(err, &cpe) && cpe.Unwrap() != nil {
		return cpe.Unwrap().Error()
	}
	return err.Error()
}

// position describes where a parser stopped, for parsers whose message
// does not say (YAML messages include the line already).
func position(err error) string {
	var pos interface{ Position() (int, int) } // go-toml's *DecodeError
	if errors.As(err, &pos) {
		line, col := pos.Position()
		return fmt.Sprintf(" (line %d, column %d)", line, col)
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf(" (byte %d)", syn.Offset)
	}
	return ""
}

// checkFileKeys reports keys in the file that graphmail does not know. It
// works on viper's flattened view of the parsed file, so nesting and the
// dotted spelling ("smtp.host: x" at the top level) are treated alike.
func (l *loader) checkFileKeys() {
	keys := l.fv.AllKeys()
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := lookupKey(k); ok {
			continue
		}
		if parentIsKey(k) {
			continue // a table where a single value belongs: a type error, reported in build
		}
		if isSection(k) {
			if l.fv.Get(k) != nil {
				l.origins[k] = "file " + l.file
				l.fail(k, "not a section", "put its keys under it: "+strings.Join(sectionKeys(k), ", "), nil)
			}
			continue
		}
		l.unknown(k, "unknown key", Keys())
	}
}

// parentIsKey reports whether a prefix of the dotted name k is a key.
func parentIsKey(k string) bool {
	for i := range len(k) {
		if k[i] == '.' {
			if _, ok := lookupKey(k[:i]); ok {
				return true
			}
		}
	}
	return false
}

// resolve returns the value of key from the first source that has it.
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
			if def.kind == kindPath {
				v = l.relativeToFile(v)
			}
			return v, SourceFile, "file " + l.file
		}
	}
	if def.azureEnv != "" {
		if v, ok := l.env(def.azureEnv); ok {
			return v, SourceAzureEnv, "azure-env " + def.azureEnv
		}
	}
	if v, ok := l.defaults[def.name]; ok {
		return v, SourceDefault, "default"
	}
	return "", SourceDefault, "default"
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

// value resolves key, records its source and converts it to its kind.
// A value that does not convert is reported and replaced by the zero value.
func (l *loader) value(key string) any {
	def, _ := lookupKey(key)
	raw, source, origin := l.resolve(def)
	l.sources[key], l.origins[key] = source, origin
	var (
		out any
		ok  bool
	)
	problem, hint := "", ""
	switch def.kind {
	case kindInt:
		out, ok = asInt(raw)
		problem, hint = "not a whole number", "write a number such as 587"
	case kindBool:
		out, ok = asBool(raw)
		problem, hint = "not true or false", "write true or false"
	case kindDuration:
		var str string
		if str, ok = asString(raw); ok {
			d, err := time.ParseDuration(strings.TrimSpace(str))
			ok = err == nil && d >= 0
			out = d
		}
		if !ok {
			out = time.Duration(0)
		}
		problem, hint = "not a duration", "write a duration such as 90s or 2m"
	case kindList:
		out, ok = asList(raw)
		problem, hint = "not a list", "write a list, e.g. [127.0.0.0/8, 10.1.2.0/24], or comma-separated values in an environment variable"
	case kindAccounts:
		out, ok = asAccounts(raw)
		problem, hint = "not a table of accounts", "write it in the config file: serve: {accounts: {NAME: {password_hash: '$argon2id$...', allowed_from: [a@contoso.com]}}}"
	case kindSize:
		var n int64
		n, ok = asSize(raw)
		out = n
		problem, hint = "not a size", "write a size such as 35MB, 512KB or a number of bytes"
	default:
		var s string
		s, ok = asString(raw)
		if def.kind != kindSecret {
			s = strings.TrimSpace(s)
		}
		out = s
		problem, hint = "expected a single value, got "+describe(raw), "write one value; quote it if it contains special characters"
	}
	if !ok {
		l.bad[key] = true
		l.fail(key, problem, hint, nil)
	}
	return out
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
