"""softgrad gradcheck FILE.py:CLASS: the user's own node from a file in a temporary folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from softgrad.gradcheck.precision import NARROW

GALLERY = Path(__file__).resolve().parents[1] / "gradcheck" / "gallery"


@pytest.fixture
def nodes(tmp_path):
    """A temporary folder holding copies of the gallery files; returns ``path(file:Class)``."""
    for source in GALLERY.glob("*.py"):
        shutil.copy(source, tmp_path / source.name)

    def node(spec: str) -> str:
        return str(tmp_path / spec)

    node.folder = tmp_path
    return node


def test_a_right_node_passes_with_exit_0(cli, nodes):
    result = cli("gradcheck", nodes("softmax_nodes.py:Softmax"))
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("checking Softmax() from ") and "x of shape (4, 10)" in lines[0]
    assert lines[1].startswith("Softmax: ok (eps=1e-06")
    assert lines[3].split()[:2] == ["x", "(4,"] and lines[3].endswith("ok")
    assert "diagnosis" not in result.out and result.err == ""


@pytest.mark.parametrize(
    "node",
    [
        "stateful_nodes.py:SoftmaxPreallocated",
        "loss_nodes.py:SoftmaxWithLoss",
        "float32_nodes.py:Softmax32",
        "float32_nodes.py:SoftmaxCrossEntropy32",
    ],
)
def test_right_nodes_written_in_other_styles_pass_with_exit_0(cli, nodes, node):
    result = cli("gradcheck", nodes(node))
    assert (result.code, result.err) == (0, ""), result.out
    assert "diagnosis" not in result.out


def test_a_float32_node_is_checked_at_float32_settings_unless_given(cli, nodes):
    chosen = NARROW[np.dtype(np.float32)]
    result = cli("gradcheck", nodes("float32_nodes.py:Softmax32"))
    assert result.out.splitlines()[1] == (
        f"Softmax32: ok (eps={chosen.eps:g}, atol={chosen.atol:g}, rtol={chosen.rtol:g})"
    )
    assert "  note: forward computes in float32: the step and tolerances were chosen for it" in (
        result.out.splitlines()
    )
    given = ["--eps", "1e-6", "--atol", "1e-5", "--rtol", "1e-4"]  # float64's: noise in float32
    as_given = cli("gradcheck", nodes("float32_nodes.py:Softmax32"), *given)
    assert as_given.code == 1 and "Softmax32: FAILED (eps=1e-06, atol=1e-05, rtol=0.0001)" in (
        as_given.out
    )
    assert cli("gradcheck", nodes("float32_nodes.py:Softmax32Diagonal")).code == 1


def test_a_wrong_node_fails_with_exit_1_and_the_diagnosis(cli, nodes):
    result = cli("gradcheck", nodes("softmax_nodes.py:SoftmaxDiagonal"))
    assert result.code == 1, result.err
    assert "SoftmaxDiagonal: FAILED" in result.out and result.out.splitlines()[3].endswith("FAIL")
    text = " ".join(result.out.split("diagnosis:")[1].split())
    assert text.startswith("x: the softmax Jacobian reduced to its diagonal: backward computes")
    assert "s * (g - sum(g * s, axis=-1, keepdims=True))" in text


@pytest.mark.parametrize(
    ("node", "check", "told", "mistake"),
    [
        ("SoftmaxInPlace", "grad_y", "backward changed grad_y in place", "grad_y_modified"),
        # forward kept self.x = x, backward zeroed it: the layer below's output
        ("SoftmaxZeroesItsInput", "backward_x", "backward changed x in place", "x_modified"),
    ],
)
def test_a_node_whose_backward_changes_an_argument_in_place_fails_with_exit_1(
    cli, nodes, node, check, told, mistake
):
    result = cli("gradcheck", nodes(f"softmax_nodes.py:{node}"))
    assert result.code == 1 and result.err == "", result.err
    rows = [line.split() for line in result.out.splitlines()]
    assert ["x", "ok"] == [rows[3][0], rows[3][-1]]  # the gradient it returns is right
    assert rows[4][0] == check and f"FAIL {told}" in result.out
    assert f"diagnosis:\n  {check}: {told}" in result.out
    report = cli("gradcheck", nodes(f"softmax_nodes.py:{node}"), "--json").json()
    assert report["ok"] is False and report["mistakes"] == [mistake]


def test_shape_args_and_seed(cli, nodes):
    as_list = cli(
        "gradcheck", nodes("linear_nodes.py:Linear"), "--args", "[3, 2]", "--shape", "5,3"
    )
    assert as_list.code == 0, as_list.err
    assert "checking Linear(3, 2) from " in as_list.out and "x of shape (5, 3)" in as_list.out
    assert [line.split()[0] for line in as_list.out.splitlines()[3:6]] == ["x", "W", "b"]
    as_dict = cli(
        "gradcheck",
        nodes("linear_nodes.py:Linear"),
        "--args",
        '{"n_in": 3, "n_out": 2}',
        "--shape",
        "5,3",
    )
    assert as_dict.code == 0 and "Linear(n_in=3, n_out=2)" in as_dict.out
    wrong = cli(
        "gradcheck",
        nodes("linear_nodes.py:LinearBiasNotSummed"),
        "--args",
        "[3, 2]",
        "--shape",
        "4,3",
    )
    assert wrong.code == 1 and "b: the bias gradient not summed over the batch" in wrong.out
    seeded = [
        cli("gradcheck", nodes("softmax_nodes.py:SoftmaxTimesTwo"), "--seed", s).out for s in "112"
    ]
    assert seeded[0] == seeded[1] != seeded[2]


def test_a_loss_node_gets_class_targets(cli, nodes):
    result = cli("gradcheck", nodes("loss_nodes.py:SoftmaxCrossEntropyMeanTwice"), "--shape", "6,3")
    assert result.code == 1
    assert "random class targets" in result.out
    assert "--targets onehot" not in result.out  # a mistake named: the indices were understood
    assert "divided by N twice" in result.out and "N = 6" in result.out
    assert cli("gradcheck", nodes("loss_nodes.py:SoftmaxCrossEntropy")).code == 0


def test_a_loss_node_of_one_hot_targets_gets_them_with_the_option(cli, nodes):
    node = nodes("loss_nodes.py:OneHotCrossEntropy")
    result = cli("gradcheck", node, "--targets", "onehot")
    assert result.code == 0, result.out
    assert "random class targets (one-hot)" in result.out
    # N == C: the class indices broadcast against the one-hot shape without an error, and the
    # failure says what the node was given
    square = cli("gradcheck", node, "--shape", "10,10")
    assert square.code == 1
    assert square.out.rstrip().endswith(
        "note: the target was class indices of shape (10,); for a forward that takes one-hot "
        "targets, run with --targets onehot"
    )
    assert cli("gradcheck", node, "--shape", "10,10", "--targets", "onehot").code == 0
    report = cli("gradcheck", node, "--targets", "onehot", "--json").json()
    assert report["ok"] is True and report["targets"] == "onehot"


def test_json_report(cli, nodes):
    result = cli("gradcheck", nodes("activation_nodes.py:TanhWithInput"), "--json")
    assert result.code == 1
    report = result.json()
    assert report["ok"] is False and report["mistakes"] == ["input_for_output"]
    assert report["diagnosis"].startswith("x: the derivative written with the input x")
    assert report["shape"] == [4, 10] and report["seed"] == 0


def test_the_users_module_may_print_and_is_not_left_imported(cli, nodes):
    (nodes.folder / "chatty.py").write_text(
        "import numpy as np\nprint('loading my nodes')\n\n\n"
        "class Relu:\n"
        "    def forward(self, x):\n        self.x = x\n        return np.maximum(x, 0)\n\n"
        "    def backward(self, g):\n        return g * (self.x > 0)\n\n\n"
        "if __name__ == '__main__':\n    raise SystemExit('not imported as a script')\n"
    )
    before = set(sys.modules)
    result = cli("gradcheck", nodes("chatty.py:Relu"))
    assert result.code == 0, result.err
    assert result.out.startswith("loading my nodes\nchecking Relu() from ")
    assert set(sys.modules) - before == set()


def test_a_sibling_import_of_the_users_file_works(cli, nodes):
    (nodes.folder / "uses_sibling.py").write_text(
        "from softmax_nodes import Softmax\n\n\nclass MySoftmax(Softmax):\n    pass\n"
    )
    assert cli("gradcheck", nodes("uses_sibling.py:MySoftmax")).code == 0


JSON_HELP = "a list of positional arguments, an object of keyword arguments, or one value"
SHAPE_HELP = "must be positive sizes separated by commas (e.g. 4,10)"
SOFTMAX_CLASSES = (
    "Softmax, SoftmaxAliased, SoftmaxDiagonal, SoftmaxDiagonalInPlace, SoftmaxInPlace, "
    "SoftmaxInputForUpstream, SoftmaxNoShift, SoftmaxNoUpstream, SoftmaxOverwritesOutput, "
    "SoftmaxPurePython, SoftmaxReturnsJacobian, SoftmaxShiftsInPlace, SoftmaxSignFlipped, "
    "SoftmaxSumOverBatch, SoftmaxSummedOverAnotherAxis, SoftmaxTimesTwo, SoftmaxWithInput, "
    "SoftmaxZeroesItsInput"
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["missing.py:Softmax"],
            "FILE must be an existing Python file; got '{folder}/missing.py'",
        ),
        (
            ["softmax_nodes.py"],
            "the node must be FILE.py:CLASS (e.g. my_nodes.py:MySoftmax); "
            "got '{folder}/softmax_nodes.py'",
        ),
        (
            ["softmax_nodes.py:Nope"],
            "CLASS must be a class defined in {folder}/softmax_nodes.py; got 'Nope' "
            f"(defined there: {SOFTMAX_CLASSES})",
        ),
        (
            ["broken_nodes.py:tanh_forward"],
            "tanh_forward in {folder}/broken_nodes.py is a function, not a class with forward(x) "
            "and backward(grad_y); check a function from Python: softgrad.gradcheck(f, x, "
            "vjp=...)",
        ),
        (
            ["broken_nodes.py:NotANode"],
            "CLASS must have forward(x) and backward(grad_y) methods; got NotANode",
        ),
        (
            ["softmax_nodes.py:Softmax", "--shape", "4x10"],
            f"argument --shape: {SHAPE_HELP}; got '4x10'",
        ),
        (
            ["softmax_nodes.py:Softmax", "--shape", "4,0"],
            f"argument --shape: {SHAPE_HELP}; got '4,0'",
        ),
        (
            ["softmax_nodes.py:Softmax", "--args", "[3,"],
            f"--args must be JSON ({JSON_HELP}); got '[3,'",
        ),
        (
            ["broken_nodes.py:NeedsArguments"],
            "NeedsArguments() raised TypeError: NeedsArguments.__init__() missing 2 required "
            "positional arguments: 'n_in' and 'n_out' (pass constructor arguments with --args)",
        ),
        (
            # arguments given: the constructor's own message, without the hint to give them
            ["broken_nodes.py:NeedsArguments", "--args", "[3]"],
            "NeedsArguments(3) raised TypeError: NeedsArguments.__init__() missing 1 required "
            "positional argument: 'n_out'",
        ),
        (
            ["softmax_nodes.py:Softmax", "--targets", "onehot"],
            "--targets is for a forward(x, target); Softmax.forward takes x alone",
        ),
        (
            ["loss_nodes.py:OneHotCrossEntropy"],
            "OneHotCrossEntropy.forward raised ValueError: operands could not be broadcast "
            "together with shapes (4,) (4,10) (the target was class indices of shape (4,); for "
            "a forward that takes one-hot targets, run with --targets onehot)",
        ),
        (
            # forward ran on the indices: no --targets hint, but how backward is called
            ["loss_nodes.py:NnfsSoftmaxCrossEntropy"],
            "NnfsSoftmaxCrossEntropy.backward must take backward(1.0) or backward() for a loss "
            "(forward returned a scalar), which is how gradcheck calls it; got backward(dvalues, "
            "y_true). A backward that takes other arguments, such as nnfs's backward(dvalues, "
            "y_true), is not a form gradcheck can call: check a subclass whose forward keeps the "
            "target and whose backward() calls yours (docs/check-your-backward.md shows one)",
        ),
        (
            ["loss_nodes.py:TypeErrorInBackward"],
            "TypeErrorInBackward.backward raised TypeError: object of type 'TypeErrorInBackward' "
            "has no len()",
        ),
        (
            ["broken_nodes.py:RaisesInBackward"],
            "RaisesInBackward.backward raised ValueError: my backward is not written yet",
        ),
        (
            ["broken_nodes.py:RaisesInForward"],
            "RaisesInForward.forward raised AttributeError: "
            "'RaisesInForward' object has no attribute 'weights'",
        ),
        *[
            (
                [option, value],
                "--shape, --args, --targets, --eps, --atol and --rtol need a FILE.py:CLASS to "
                "check",
            )
            for option, value in [
                ("--shape", "4,10"),
                ("--eps", "1e-3"),
                ("--rtol", "0"),
                ("--targets", "onehot"),
            ]
        ],
        *[
            (["float32_nodes.py:Softmax32", option, value], f"argument {option}: {message}")
            for option, value, message in [
                ("--eps", "0", "must be a number > 0; got '0'"),
                ("--eps", "abc", "must be a number; got 'abc'"),
                ("--atol", "-1", "must be a number >= 0; got '-1'"),
                ("--rtol", "nan", "must be a finite number; got 'nan'"),
            ]
        ],
        (
            ["broken_nodes.py:ForgetsReturn"],
            "ForgetsReturn.forward returned None; it must return its output (is a `return` "
            "missing?)",
        ),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(argv, message, usage_error, nodes):
    argv = [nodes(a) if (".py" in a and not a.startswith("-")) else a for a in argv]
    line = usage_error("gradcheck", *argv)
    assert line == "softgrad: error: gradcheck: " + message.format(folder=nodes.folder)


@pytest.mark.parametrize(
    ("node", "said"),
    [
        ("softmax_nodes.py:SoftmaxNoUpstream", "x: backward does not use grad_y: backward(2 *"),
        ("loss_nodes.py:CrossEntropyOfLogits", "forward returned NaN or inf at the checked point"),
        ("loss_nodes.py:SoftmaxCrossEntropyByCounts", "x: backward returned NaN or inf ("),
        ("broken_nodes.py:ReturnsList", "x: backward returned a list of 2 items; it must return"),
    ],
)
def test_problems_said_before_the_table_are_a_failed_check_with_exit_1(cli, nodes, node, said):
    result = cli("gradcheck", nodes(node))
    assert (result.code, result.err) == (1, ""), result.err  # no traceback, no NumPy warning
    assert said in " ".join(result.out.split("diagnosis:")[1].split())


def test_a_shape_the_node_cannot_take_is_the_users_error_on_one_line(usage_error, nodes):
    line = usage_error("gradcheck", nodes("linear_nodes.py:Linear"), "--args", "[3, 2]")
    assert line.startswith("softgrad: error: gradcheck: Linear.forward raised ValueError: ")


def test_a_module_that_raises_on_import_is_one_line(usage_error, nodes):
    (nodes.folder / "broken_import.py").write_text("raise RuntimeError('half-written file')\n")
    line = usage_error("gradcheck", nodes("broken_import.py:X"))
    assert line.endswith("broken_import.py raised RuntimeError: half-written file")
    (nodes.folder / "syntax.py").write_text("def forward(self x):\n")
    assert "syntax.py raised SyntaxError: " in usage_error("gradcheck", nodes("syntax.py:X"))


LAYER_WITHOUT_SUPER = """
import numpy as np
from softgrad.nn.layer import Layer


class NoSuper(Layer):
    def __init__(self):  # Layer.__init__ never called: no params, no grads
        self.W = np.ones((10, 3))

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_y, input_grad=True):
        self.dW = self.x.T @ grad_y
        return grad_y @ self.W.T
"""


def test_a_layer_subclass_that_breaks_astype_is_one_line(usage_error, nodes):
    (nodes.folder / "no_super.py").write_text(LAYER_WITHOUT_SUPER)
    line = usage_error("gradcheck", nodes("no_super.py:NoSuper"))
    assert line == (
        "softgrad: error: gradcheck: NoSuper.astype(float64) raised AttributeError: NoSuper "
        "has no attribute 'params': its __init__ must call super().__init__() (Layer.__init__ "
        "creates params, grads and training)"
    )
    assert sorted(p.name for p in nodes.folder.iterdir() if not p.suffix == ".py") == []


def test_plain_gradcheck_still_checks_softgrad_itself(cli):
    result = cli("gradcheck")
    assert result.code == 0 and "all 14 cases passed" in result.out


def _readme_section():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Check your own backward\n")[1].split("\n## ")[0]
    return [block.split("\n", 1) for block in section.split("```")[1::2]]


# The passing check's max_abs_err and max_rel_err are the central differences' rounding error
# (about 1e-16 * |f| / eps = 1e-10), so they follow the last bit of the np.exp the user's node
# calls: NumPy 1.24's float64 exp (the floor pyproject.toml allows) rounds some arguments one
# ulp away from NumPy 2.4's, and the same run prints 2.02e-10 and 1.25e-07 there. The README
# shows NumPy 2.4's figures; everything else the command prints, the failing check's figures
# included, is the same under both (1.24 and 2.4 measured; the split is taken at 2.0).
_NUMPY_1_ROUNDING = {"2.22e-10     1.73e-07": "2.02e-10     1.25e-07"}


def test_the_readme_section_is_what_the_command_prints(cli, tmp_path, monkeypatch):
    (_, node), (_, failing), (_, fixed), (_, passing) = _readme_section()[:4]
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        for shown, printed in _NUMPY_1_ROUNDING.items():
            assert shown in passing, f"the README's figures changed: {passing}"
            passing = passing.replace(shown, printed)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_softmax.py").write_text(node)
    for shown in (failing, node.split("    def backward")[0] + fixed, passing):
        if shown.startswith("$ "):
            command, *printed = shown.rstrip("\n").splitlines()
            status = int(printed.pop().removeprefix("(exit ").removesuffix(")"))
            result = cli(*command.split()[2:])
            assert (result.code, result.out.splitlines()) == (status, printed)
        else:
            (tmp_path / "my_softmax.py").write_text(shown)


def test_the_users_folder_gets_no_bytecode_cache(cli, nodes):
    assert cli("gradcheck", nodes("softmax_nodes.py:Softmax")).code == 0
    assert not (nodes.folder / "__pycache__").exists()


def test_a_float16_node_is_said_to_be_inconclusive_with_float32_suggested(cli, nodes):
    result = cli("gradcheck", nodes("float32_nodes.py:Tanh16"), "--shape", "2,3")
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[1] == "Tanh16: ok, inconclusive (eps=0.1, atol=0.1, rtol=0.1)"
    assert lines[-1].startswith("  warning: float16 is too coarse for a conclusive check")
    assert lines[-1].endswith("check the node in float32")
    as_json = cli("gradcheck", nodes("float32_nodes.py:Tanh16"), "--shape", "2,3", "--json")
    assert as_json.json()["ok"] and as_json.json()["warning"].endswith("check the node in float32")


def test_a_composite_node_has_its_sub_nodes_parameters_checked(cli, nodes):
    right = cli("gradcheck", nodes("composite_nodes.py:TwoLayer"))
    assert (right.code, right.err) == (0, ""), right.out
    rows = [line.split()[0] for line in right.out.splitlines()[3:]]
    assert rows == ["x", "self.fc1.params['W']", "self.fc1.params['b']", "self.out.W", "self.out.b"]
    wrong = cli("gradcheck", nodes("composite_nodes.py:Stack"), "--args", '{"wrong": true}')
    assert wrong.code == 1, wrong.out + wrong.err
    assert "self.layers[2].W: off by a constant factor: backward computes 2 times" in wrong.out


def test_a_composite_names_the_mistake_of_a_node_without_parameters_in_json_too(cli, nodes):
    spec = nodes("composite_nodes.py:StackSoftmaxDiagonal")
    text = cli("gradcheck", spec)
    assert text.code == 1, text.out + text.err
    assert "  self.layers[1]: the softmax Jacobian reduced to its diagonal" in text.out
    report = cli("gradcheck", spec, "--json").json()
    assert report["mistakes"] == ["softmax_diagonal"]
    [sub] = report["sub_nodes"]
    assert (sub["path"], sub["ok"], sub["mistakes"]) == (
        "self.layers[1]",
        False,
        ["softmax_diagonal"],
    )
