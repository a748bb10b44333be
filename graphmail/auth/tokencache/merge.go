package tokencache

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Why a merge, and why three-way.
//
// MSAL's Export hands over its whole in-memory cache, and on a cache miss it
// calls Replace (load the file), adds the new token in memory, then Export
// (base.Client.AuthResultFromToken). Between that Replace and that Export
// another process may have written the file, say with a token for the other
// scope; writing MSAL's bytes as they are would drop it. Holding the file
// lock from Replace to Export is not possible: the same Replace call also
// starts every cache lookup, which is not followed by an Export, and the
// two cannot be told apart.
//
// So Export merges, under the exclusive lock, three versions of the
// serialized cache: base, what this process's MSAL memory was last set
// from (the last Replace that loaded the file, or the last Export); ours,
// what MSAL hands to Export now; and theirs, the file as it is now. MSAL's
// format is opaque in principle, but it is (and has always been) a JSON
// object of sections ("AccessToken", "Account", …), each an object of
// entries keyed by MSAL's cache key. Entries are merged one by one: what
// this process changed since base wins, everything else comes from the file,
// and deletions on either side are kept. If the data is not shaped like
// that, ours is written as it is (last writer wins), which loses at most a
// token that the next process fetches again.

// merge3 merges ours and theirs relative to base and drops access tokens that
// expired before now. Inputs may be nil (no data). It fails only if ours is
// not a JSON object.
func merge3(base, ours, theirs []byte, now time.Time) ([]byte, error) {
	o, err := parseObject(ours)
	if err != nil {
		return nil, err
	}
	b, err := parseObject(base)
	if err != nil {
		b = nil
	}
	t, err := parseObject(theirs)
	if err != nil {
		t = nil
	}
	out := map[string]json.RawMessage{}
	for _, k := range unionKeys(b, o, t) {
		bv, bok := b[k]
		ov, ook := o[k]
		tv, tok := t[k]
		if objectOrAbsent(bv, bok) && objectOrAbsent(ov, ook) && objectOrAbsent(tv, tok) {
			sec, err := mergeSection(bv, ov, tv, k == "AccessToken", now)
			if err == nil {
				if sec != nil {
					out[k] = sec
				}
				continue
			}
		}
		if v, ok := pick3(bv, bok, ov, ook, tv, tok); ok {
			out[k] = v
		}
	}
	return marshal(out)
}

// mergeSection merges one section entry by entry.
func mergeSection(base, ours, theirs json.RawMessage, accessTokens bool, now time.Time) (json.RawMessage, error) {
	var b, o, t map[string]json.RawMessage
	for _, p := range []struct {
		raw json.RawMessage
		m   *map[string]json.RawMessage
	}{{base, &b}, {ours, &o}, {theirs, &t}} {
		if p.raw == nil {
			continue
		}
		if err := json.Unmarshal(p.raw, p.m); err != nil {
			return nil, err
		}
	}
	out := map[string]json.RawMessage{}
	for _, k := range unionKeys(b, o, t) {
		bv, bok := b[k]
		ov, ook := o[k]
		tv, tok := t[k]
		v, ok := pick3(bv, bok, ov, ook, tv, tok)
		if !ok || accessTokens && expired(v, now) {
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return marshal(out)
}

// pick3 resolves one value: the side that changed it since base wins; if
// both did, ours wins unless ours deleted what theirs modified.
func pick3(bv json.RawMessage, bok bool, ov json.RawMessage, ook bool, tv json.RawMessage, tok bool) (json.RawMessage, bool) {
	same := func(x json.RawMessage, xok bool, y json.RawMessage, yok bool) bool {
		return xok == yok && jsonEqual(x, y)
	}
	switch {
	case same(ov, ook, bv, bok): // unchanged here: take the file's
		return tv, tok
	case same(tv, tok, bv, bok): // unchanged in the file: take ours
		return ov, ook
	case ook:
		return ov, true
	default:
		return tv, tok
	}
}

// expired reports whether an access token entry's expires_on (Unix seconds,
// as a string or a number) is before now. Entries without one are kept.
func expired(entry json.RawMessage, now time.Time) bool {
	var e struct {
		ExpiresOn json.RawMessage `json:"expires_on"`
	}
	if json.Unmarshal(entry, &e) != nil || e.ExpiresOn == nil {
		return false
	}
	s := string(bytes.Trim(e.ExpiresOn, `"`))
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	return time.Unix(sec, 0).Before(now)
}

// marshal encodes m like MSAL does: compact, keys sorted, no HTML escaping.
func marshal(m map[string]json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonEqual compares two JSON values byte for byte, ignoring insignificant
// white space. A false "different" only makes ours win where the file's
// copy would have done as well.
func jsonEqual(x, y json.RawMessage) bool {
	if bytes.Equal(x, y) {
		return true
	}
	var cx, cy bytes.Buffer
	if json.Compact(&cx, x) != nil || json.Compact(&cy, y) != nil {
		return false
	}
	return bytes.Equal(cx.Bytes(), cy.Bytes())
}

func parseObject(b []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func objectOrAbsent(v json.RawMessage, ok bool) bool {
	v = bytes.TrimSpace(v)
	return !ok || len(v) > 0 && v[0] == '{'
}

// unionKeys returns the keys of all maps, each once, in no particular
// order (json.Marshal sorts the output).
func unionKeys(ms ...map[string]json.RawMessage) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}
