"""Where a TF 1 cell sits, from its scope alone (a pure function: no files needed)."""

import pytest

from grutool.families.tf_scopes import place


@pytest.mark.parametrize("scope, expected", [
    ("rnn/gru_cell", ("rnn/gru_cell", 0, "forward")),
    ("encoder/rnn/multi_rnn_cell/cell_1/gru_cell", ("encoder/rnn/multi_rnn_cell", 1, "forward")),
    ("birnn/bidirectional_rnn/bw/gru_cell", ("birnn/bidirectional_rnn", 0, "reverse")),
    ("RNN/MultiRNNCell/Cell1/GRUCell", ("RNN/MultiRNNCell", 1, "forward")),
    ("BiRNN/BW/GRUCell", ("BiRNN", 0, "reverse")),
    # stack_bidirectional_rnn concatenates both directions between layers: one module.
    ("stack_bidirectional_rnn/cell_2/bidirectional_rnn/bw/gru_cell",
     ("stack_bidirectional_rnn", 2, "reverse")),
    # a MultiRNNCell per direction: each direction's stack reads only itself, so two modules.
    ("enc/bidirectional_rnn/fw/multi_rnn_cell/cell_1/gru_cell",
     ("enc/bidirectional_rnn/fw/multi_rnn_cell", 1, "forward")),
    ("enc/bidirectional_rnn/bw/multi_rnn_cell/cell_0/gru_cell",
     ("enc/bidirectional_rnn/bw/multi_rnn_cell", 0, "reverse")),
    ("cell_0/gru_cell", ("cell_0/gru_cell", 0, "forward")),
])
def test_place(scope, expected):
    assert place(scope) == expected
