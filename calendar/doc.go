// Package calendar is the business calendar: working days and hours,
// explicit and public holidays (via github.com/rickar/cal), service
// commitments ("4h", "3d") and the due times they give, all counted in
// business time in the department's zone.
//
// It is pure: no I/O, no clock; every method takes the time it works from.
// A Calendar is built once by NewCalendar and is safe for concurrent use.
package calendar
