//go:build !unix

package mailstack

import (
	"errors"
	"testing"
)

func lockStack(t testing.TB, dir string, exclusive bool) error {
	return errors.New("the mail stack runs only on unix")
}
