// Package networks is the model variants of JKOnet* with learned networks
// (docs/design.md §4.1): jkonet-star, potential, potential-internal,
// potential-interaction and time-potential. Each is an MLP potential V (on
// [x, t] for time-potential) and, where the variant has them, an MLP
// interaction kernel U and a scalar β, with every parameter in one flat
// buffer (Net, Layout).
//
// It computes the JKOnet* loss of a batch of coupling pairs and its gradient
// in the parameters (Batch, Net.LossGrad) in hand-written fused code, with an
// AVX2 matrix kernel on amd64, and the same loss as a Gorgonia expression
// graph (GraphLoss), which the cpu-graph backend runs as a cross-check.
package networks
