package main

import (
	"os"
	"regexp"
)

var aadstsRE = regexp.MustCompile(`AADSTS\d{5,8}`)

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "this host"
	}
	return h
}
