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
	"strings"

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
	// Load reads the environment only through it: GRAPHMAIL_* and AZURE_*
	// variables, and HOME and the XDG_* variables for the default search
	// paths, token cache, key file and spool directory. A variable set to
	// "" counts as unset.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment as "NAME=value" entries; Load uses it
	// only to report unknown GRAPHMAIL_* variables. nil means os.Environ
	// when LookupEnv is nil too; when LookupEnv is set and Environ is nil,
	// the unknown-variable check is skipped.
	Environ func() []string
	// Geteuid returns the effective user ID, which picks the system-wide
	// default paths for root; nil means os.Geteuid.
	Geteuid func() int
	// SearchPaths are the files tried, in order, when neither ConfigFile
	// nor GRAPHMAIL_CONFIG names one; nil means DefaultSearchPaths. Two
	// existing files that differ only in their extension (config.yaml and
	// config.toml) are an error.
	SearchPaths []string
	// RequireCredentials makes Load insist on what talking to the tenant
	// needs: tenant_id, client_id, sender, exactly one credential, and
	// readable credential and CA files. Commands that never reach the
	// network (version, --dry-run) leave it false and may get a partial
	// Config.
	RequireCredentials bool
}

// configExts are the extensions Load tries for each file it searches, in
// order.
var configExts = []string{".yaml", ".yml", ".toml", ".json"}

// DefaultSearchPaths returns the files Load tries when no file is named:
// ./graphmail.{yaml,yml,toml,json}, then config.{yaml,yml,toml,json} in
// $XDG_CONFIG_HOME/graphmail (XDG_CONFIG_HOME defaults to $HOME/.config;
// skipped when neither is set) and in /etc/graphmail. lookupEnv nil means
// os.LookupEnv.
func DefaultSearchPaths(lookupEnv func(string) (string, bool)) []string {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	stems := []string{"graphmail"}
	if dir, ok := lookupEnv("XDG_CONFIG_HOME"); ok && dir != "" {
		stems = append(stems, filepath.Join(dir, "graphmail", "config"))
	} else if home, ok := lookupEnv("HOME"); ok && home != "" {
		stems = append(stems, filepath.Join(home, ".config", "graphmail", "config"))
	}
	stems = append(stems, "/etc/graphmail/config")
	paths := make([]string, 0, len(stems)*len(configExts))
	for _, stem := range stems {
		for _, ext := range configExts {
			paths = append(paths, stem+ext)
		}
	}
	return paths
}

// loader carries the state of one Load call.
type loader struct {
	opts      Options
	lookupEnv func(string) (string, bool)
	environ   func() []string
	overrides map[string]any // lower-case keys

	file string       // path of the file read, "" when none
	fv   *viper.Viper // the file's contents; nil when there is no file

	searched []string // the files tried when none was found
	missing  bool     // a value the credentials need is not set

	denv    defaultEnv
	sources map[string]string // key → Source* constant
	origins map[string]string // key → "env GRAPHMAIL_X", "file /p", …
	bad     map[string]bool   // keys whose value could not be converted
	errs    Errors
}

// Load reads the configuration, resolves defaults and validates the result
// before anything touches the network. It returns either a complete Config
// or an Errors listing every problem found — except that a configuration
// file that cannot be used (unreadable, of an unsupported type, not
// parseable, or ambiguous) is the only error reported, since every other
// finding would follow from it.
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
	geteuid := opts.Geteuid
	if geteuid == nil {
		geteuid = os.Geteuid
	}
	l.denv = defaultEnv{lookupEnv: l.env, euid: geteuid()}
	l.readOverrides()
	l.checkEnviron()
	if err := l.readFile(); err != nil {
		return nil, Errors{err}
	}
	cfg := l.build()
	l.validate(cfg)
	if l.missing && l.file == "" && len(l.searched) > 0 {
		l.errs = append(l.errs, &Error{Key: "config",
			Problem: "no configuration file found (looked for " + describePaths(l.searched) + ")",
			Hint:    "create one there, name one with --config or " + EnvConfig + ", or set the missing keys in the environment"})
	}
	if len(l.errs) > 0 {
		sortErrors(l.errs)
		return nil, l.errs
	}
	return cfg, nil
}

// sortErrors puts errs in the documented order: the configuration file,
// then other problems not tied to a key (unknown keys and variables), then
// keys in the order of keyTable. The sort is stable.
func sortErrors(errs Errors) {
	rank := func(e *Error) int {
		if e.Key == "config" {
			return -2
		}
		return keyIndex(e.Key)
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return rank(a) - rank(b) })
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
// keys in it that graphmail does not know. It returns the problem that
// makes the file unusable, if any.
func (l *loader) readFile() *Error {
	path, explicit := l.opts.ConfigFile, l.opts.ConfigFile != ""
	if !explicit {
		path, explicit = l.env(EnvConfig)
	}
	if !explicit {
		search := l.opts.SearchPaths
		if search == nil {
			search = DefaultSearchPaths(l.lookupEnv)
		}
		i := slices.IndexFunc(search, exists)
		if i < 0 {
			l.searched = search
			return nil
		}
		path = search[i]
		stem := strings.TrimSuffix(path, filepath.Ext(path))
		for _, other := range search[i+1:] {
			if strings.TrimSuffix(other, filepath.Ext(other)) == stem && exists(other) {
				return &Error{Key: "config", Problem: "found both " + path + " and " + other,
					Hint: "keep one of them (only one is read), or name one with --config or " + EnvConfig}
			}
		}
	}
	fileErr := func(problem, hint string, cause error) *Error {
		return &Error{Key: "config", Problem: problem, Hint: hint, Source: "file " + path, Err: cause}
	}

	data, err := os.ReadFile(path)
	if err != nil {
		hint := "check the path and its permissions"
		if errors.Is(err, fs.ErrNotExist) {
			hint = "check the path given by --config or " + EnvConfig + ", or create the file"
		}
		return fileErr("cannot read "+path+": "+causeText(err), hint, err)
	}
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch format {
	case "", "yml":
		format = "yaml"
	case "yaml", "toml", "json":
	default:
		return fileErr("cannot read "+path+": unsupported file type ."+format, "use a .yaml, .yml, .toml or .json file", nil)
	}
	fv := viper.New()
	fv.SetConfigType(format)
	if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
		// Parser messages carry a position, not the file's text.
		return fileErr("cannot parse "+path+" as "+strings.ToUpper(format)+": "+causeText(err)+position(err),
			"fix the syntax there", err)
	}
	l.file, l.fv = path, fv
	l.checkFileKeys()
	return nil
}

// exists reports whether a search path names a file to read: anything
// but "does not exist" counts, so that an unreadable file is reported
// rather than skipped.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// describePaths lists search paths compactly: files that differ only in
// their extension are shown once with the extensions in braces
// (/etc/graphmail/config.{yaml,yml,toml,json}); relative paths start with
// "./".
func describePaths(paths []string) string {
	var out []string
	for i := 0; i < len(paths); {
		stem := strings.TrimSuffix(paths[i], filepath.Ext(paths[i]))
		var exts []string
		j := i
		for ; j < len(paths) && strings.TrimSuffix(paths[j], filepath.Ext(paths[j])) == stem; j++ {
			exts = append(exts, strings.TrimPrefix(filepath.Ext(paths[j]), "."))
		}
		p := paths[i]
		if len(exts) > 1 {
			p = stem + ".{" + strings.Join(exts, ",") + "}"
		}
		if !filepath.IsAbs(p) && !strings.HasPrefix(p, ".") {
			p = "./" + p
		}
		out = append(out, p)
		i = j
	}
	return strings.Join(out, ", ")
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
