package graphmailtest

import (
	"testing"
	"time"
)

func FuzzDecodeSendMail(f *testing.F) {
	f.Add([]byte(sdkJSON))
	f.Add([]byte(`{"message":{"toRecipients":[{"emailAddress":{"address":"a@b.c"}}]}}`))
	f.Add([]byte(`{"Message":{"toRecipients":[{"emailAddress":null}]},"SaveToSentItems":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ge := decodeSendMail(body)
		if ge != nil {
			if ge.status < 400 || ge.code == "" || ge.message == "" {
				t.Fatalf("bad error %+v", ge)
			}
			return
		}
		m := req.Message
		if len(m.ToRecipients)+len(m.CcRecipients)+len(m.BccRecipients) == 0 {
			t.Fatal("accepted a message without recipients")
		}
		if _, _, err := renderMessage(DefaultMailbox, m, time.Unix(0, 0)); err != nil {
			t.Fatalf("render accepted message: %v", err)
		}
	})
}
