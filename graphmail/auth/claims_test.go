package auth_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth"
)

// jwtWith returns header.payload.signature with payload as given (JSON),
// base64url without padding unless pad is set.
func jwtWith(payload string, pad bool) string {
	enc := base64.RawURLEncoding
	if pad {
		enc = base64.URLEncoding
	}
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl"
}

const appPayload = `{"aud":"https://graph.microsoft.com","iss":"https://sts.windows.net/7f4d8c2a-1111-4222-8333-944455556666/",` +
	`"tid":"7f4d8c2a-1111-4222-8333-944455556666","appid":"0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff","roles":["Mail.Send","User.Read.All"],` +
	`"exp":1700003600,"iat":1700000000,"sub":"a1b2"}`

func TestDecodeClaims(t *testing.T) {
	exp, iat := time.Unix(1700003600, 0), time.Unix(1700000000, 0)
	tests := []struct {
		name  string
		token string
		want  auth.Claims // Raw is not compared
	}{
		{"app-only token", jwtWith(appPayload, false), auth.Claims{
			Audience: "https://graph.microsoft.com", Issuer: "https://sts.windows.net/7f4d8c2a-1111-4222-8333-944455556666/", Subject: "a1b2",
			TenantID: "7f4d8c2a-1111-4222-8333-944455556666", AppID: "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff",
			Roles: []string{"Mail.Send", "User.Read.All"}, Expiry: exp, IssuedAt: iat}},
		{"padded base64url", jwtWith(appPayload, true), auth.Claims{
			Audience: "https://graph.microsoft.com", Issuer: "https://sts.windows.net/7f4d8c2a-1111-4222-8333-944455556666/", Subject: "a1b2",
			TenantID: "7f4d8c2a-1111-4222-8333-944455556666", AppID: "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff",
			Roles: []string{"Mail.Send", "User.Read.All"}, Expiry: exp, IssuedAt: iat}},
		{"user token, v2.0 (azp, scp, upn)", jwtWith(`{"aud":"https://outlook.office365.com","azp":"app-2","appid":"","scp":"Mail.Send SMTP.Send","upn":"alice@example.com","exp":1700003600.75}`, false), auth.Claims{
			Audience: "https://outlook.office365.com", AppID: "app-2", Scp: "Mail.Send SMTP.Send", UPN: "alice@example.com", Expiry: exp}},
		{"appid wins over azp", jwtWith(`{"appid":"app-1","azp":"app-2"}`, false), auth.Claims{AppID: "app-1"}},
		{"aud array", jwtWith(`{"aud":["api://AzureADTokenExchange","other"],"iss":"https://oidc.example.test/","sub":"system:serviceaccount:mail:graphmail","exp":1700003600}`, false), auth.Claims{
			Audience: "api://AzureADTokenExchange other", Issuer: "https://oidc.example.test/", Subject: "system:serviceaccount:mail:graphmail", Expiry: exp}},
		{"roles a string, scp an array", jwtWith(`{"roles":"Mail.Send","scp":["Mail.Send","SMTP.Send"]}`, false), auth.Claims{
			Roles: []string{"Mail.Send"}, Scp: "Mail.Send SMTP.Send"}},
		{"claims of other types ignored", jwtWith(`{"aud":42,"tid":null,"roles":[1,"Mail.Send",{}],"exp":"1700003600","iat":true,"upn":["x"]}`, false), auth.Claims{
			Roles: []string{"Mail.Send"}}},
		{"exp beyond any time", jwtWith(`{"exp":1e300,"iat":-1e300}`, false), auth.Claims{}},
		{"exp zero is the epoch", jwtWith(`{"exp":0}`, false), auth.Claims{Expiry: time.Unix(0, 0)}},
		{"empty object, unsigned", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{}`)) + ".", auth.Claims{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.DecodeClaims(tc.token)
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			if c.Raw == nil {
				t.Fatal("Raw is nil")
			}
			got := *c
			got.Raw = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeClaimsRaw(t *testing.T) {
	c, err := auth.DecodeClaims(jwtWith(appPayload, false))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/7f4d8c2a-1111-4222-8333-944455556666/",
		"tid": "7f4d8c2a-1111-4222-8333-944455556666", "appid": "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff",
		"roles": []any{"Mail.Send", "User.Read.All"}, "exp": float64(1700003600), "iat": float64(1700000000), "sub": "a1b2",
	}
	if !reflect.DeepEqual(c.Raw, want) {
		t.Errorf("Raw = %v\nwant  %v", c.Raw, want)
	}
}

func TestDecodeClaimsErrors(t *testing.T) {
	const secret = "eyJzZWNyZXQiOiJkbyBub3QgcHJpbnQgbWUifQ" // base64url of a JSON object
	tests := []struct {
		name, token, problem string
	}{
		{"empty", "", "is not a JWT"},
		{"no dots", secret, "is not a JWT"},
		{"two parts", "eyJhbGciOiJub25lIn0." + secret, "is not a JWT"},
		{"five parts (JWE)", "a." + secret + ".c.d.e", "is not a JWT"},
		{"payload not base64url", "a." + secret + "!.c", "payload that is not base64url"},
		{"standard base64 alphabet", "a." + base64.StdEncoding.EncodeToString([]byte(`{"a":"??>>"}`)) + ".c", "payload that is not base64url"},
		{"payload not JSON", jwtWith(`secret: do not print me`, false), "payload that is not a JSON object"},
		{"payload truncated JSON", jwtWith(`{"secret":"do not print me`, false), "payload that is not a JSON object"},
		{"payload null", jwtWith(`null`, false), "payload that is not a JSON object"},
		{"payload an array", jwtWith(`["secret"]`, false), "payload that is not a JSON object"},
		{"payload a string", jwtWith(`"secret"`, false), "payload that is not a JSON object"},
		{"number out of range", jwtWith(`{"exp":1e999,"secret":"do not print me"}`, false), "payload that is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.DecodeClaims(tc.token)
			var ce *auth.ClaimsError
			if !errors.As(err, &ce) {
				t.Fatalf("DecodeClaims = %+v, %v; want a *ClaimsError", c, err)
			}
			if c != nil {
				t.Errorf("claims %+v with an error", c)
			}
			if !strings.Contains(ce.Problem, tc.problem) || !strings.HasPrefix(err.Error(), "auth: the token ") {
				t.Errorf("err = %q, want problem %q", err, tc.problem)
			}
			for _, s := range []string{secret, "secret", "print me", "??>>"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("err = %q contains part of the token", err)
				}
			}
		})
	}
}

func TestClaimsHasRole(t *testing.T) {
	tests := []struct {
		name string
		c    auth.Claims
		role string
		want bool
	}{
		{"application permission", auth.Claims{Roles: []string{"User.Read.All", "Mail.Send"}}, "Mail.Send", true},
		{"case does not matter", auth.Claims{Roles: []string{"mail.send"}}, "Mail.Send", true},
		{"delegated permission", auth.Claims{Scp: "openid SMTP.Send profile"}, "SMTP.Send", true},
		{"missing", auth.Claims{Roles: []string{"Mail.Read"}, Scp: "Mail.ReadWrite"}, "Mail.Send", false},
		{"no prefix match", auth.Claims{Scp: "Mail.Send.Shared"}, "Mail.Send", false},
		{"no claims", auth.Claims{}, "Mail.Send", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.HasRole(tc.role); got != tc.want {
				t.Errorf("HasRole(%q) = %t, want %t", tc.role, got, tc.want)
			}
		})
	}
}

func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		jwtWith(appPayload, false),
		jwtWith(appPayload, true),
		jwtWith(`{"aud":["a","b"],"scp":["x"],"roles":"r","exp":1.5e9,"iat":-1}`, false),
		jwtWith(`{"exp":1e300}`, false),
		jwtWith(`null`, false),
		"a.b.c", "..", "", "a.=.c", "a.e30=.c",
	} {
		f.Add(s)
	}
	problems := map[string]bool{
		"is not a JWT (three dot-separated parts)": true,
		"has a payload that is not base64url":      true,
		"has a payload that is not a JSON object":  true,
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := auth.DecodeClaims(token)
		if err != nil {
			var ce *auth.ClaimsError
			if !errors.As(err, &ce) || !problems[ce.Problem] || c != nil {
				t.Fatalf("DecodeClaims = %v, %v (%T); want nil and a known *ClaimsError", c, err, err)
			}
			return
		}
		if c.Raw == nil {
			t.Fatal("Raw is nil")
		}
		if s, ok := c.Raw["aud"].(string); ok && c.Audience != s {
			t.Errorf("Audience = %q, aud = %q", c.Audience, s)
		}
		if _, ok := c.Raw["exp"].(float64); !ok && !c.Expiry.IsZero() {
			t.Errorf("Expiry = %v without a numeric exp", c.Expiry)
		}
		// Padding the payload changes nothing.
		parts := strings.Split(token, ".")
		if p := strings.TrimRight(parts[1], "="); len(p)%4 != 0 {
			parts[1] = p + strings.Repeat("=", 4-len(p)%4)
			padded, err := auth.DecodeClaims(strings.Join(parts, "."))
			if err != nil || !reflect.DeepEqual(padded, c) {
				t.Errorf("padded payload: %+v, %v; want %+v", padded, err, c)
			}
		}
	})
}
