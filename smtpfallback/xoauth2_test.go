package smtpfallback

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestXOAUTH2Client(t *testing.T) {
	a := &xoauth2Client{user: mailbox, token: "tok-1"}
	mech, ir, err := a.Start()
	if mech != "XOAUTH2" || ir != nil || err != nil {
		t.Fatalf("Start() = %q, %q, %v; want XOAUTH2 and a nil initial response", mech, ir, err)
	}
	steps := []struct {
		challenge, want string
		wantErr         bool
	}{
		{"", "user=reports@contoso.com\x01auth=Bearer tok-1\x01\x01", false},
		{`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`, "", false},
		{"again", "", true},
	}
	for i, st := range steps {
		got, err := a.Next([]byte(st.challenge))
		if (err != nil) != st.wantErr || string(got) != st.want {
			t.Errorf("Next #%d = %q, %v; want %q, error %v", i+1, got, err, st.want, st.wantErr)
		}
		if i == 1 && got == nil {
			t.Error("Next #2 returned nil; go-smtp would then stop without sending the empty line")
		}
	}
	if got := base64.StdEncoding.EncodeToString(xoauth2Response(mailbox, "tok-1")); got != saslTok1 {
		t.Errorf("base64 = %q, want %q", got, saslTok1)
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a)} {
		if strings.Contains(s, "tok-1") {
			t.Errorf("printing the client shows the token: %q", s)
		}
	}
}
