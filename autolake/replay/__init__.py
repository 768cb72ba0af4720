"""The offline extraction source: real public ads replayed day by day with simulated dealers, lifecycle and
photos (labelled simulated), and the evaluation of silver against its known truth. Only extraction imports it."""
