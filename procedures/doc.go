// Package procedures holds other teams' procedures carried by the same engine (config,
// texts, training and held-out mail, one folder each); its tests prove each one works.
package procedures
