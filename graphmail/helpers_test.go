package graphmail

import (
	"encoding/base64"
	"errors"
)

func decodeBase64(b []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(string(b))
}

func asMessageError(err error, target **MessageError) bool {
	return errors.As(err, target)
}
