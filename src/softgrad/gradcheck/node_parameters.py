"""Which of a user's node's arrays are parameters, seen on the first copy forward and backward
ran on, and where their gradients are.

Every floating array on the node and its sub-nodes is a site that may be a parameter
(:func:`softgrad.gradcheck.sub_nodes.parameter_sites`). After the first backward, a site in a
``params`` dict is a parameter, and so is an attribute whose gradient partner (``dW``, ``d_W``,
``grad_W``) backward set; an attribute whose contents forward changed is a cache, one without a
partner a constant, and notes list both. Sites on the nodes the copies share with the user's
object (:class:`softgrad.gradcheck.node_copies.NodeCopies`) are never checked: such a node is
listed apart when it has parameters (:attr:`NodeParameters.shared_with_parameters`), and among
the nodes without parameters otherwise; a note names the arrays on them that backward set no
gradient for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from softgrad.gradcheck.node_copies import NodeCopies
from softgrad.gradcheck.sub_nodes import Path, Site, parameter_sites, spelled, sub_nodes
from softgrad.gradcheck.ties import Tie, tie_note, tied_gradient, with_gradients


class NodeParameters:
    """The parameters of the node that ``copies`` copies, found by :meth:`discover`; their
    values (when ``check_params``) in :attr:`params`, where their gradients are in
    :attr:`grad_names`, both by check name (``"W"``, ``"self.out.W"``)."""

    def __init__(self, copies: NodeCopies, user: Any, check_params: bool, notes: list[str]):
        self.params: dict[str, np.ndarray] = {}
        self.grad_names: dict[str, str] = {}
        # the nodes it holds that have no parameter (a softmax in self.layers): found with them
        self.parameter_free: list[str] = []
        self.parameter_free_paths: list[Path] = []
        # the shared nodes it holds that have parameters, which were not checked
        self.shared_with_parameters: list[str] = []
        self.discovered = False
        self._copies = copies
        self._user = user
        self._check_params = check_params
        self._notes = notes
        self._all_sites = parameter_sites(copies.base, True)
        self._sites: dict[str, Site] = {}
        self._shared_sites: list[Site] = []
        self._split_sites()
        self._partners: dict[str, str] = {}
        self._ties: dict[str, list[Tie]] = {}

    def _split_sites(self) -> None:
        """The sites checked (on the copy's own nodes, with ties among them), and those on the
        nodes every copy shares with the user's object, which are never checked."""
        owned = self._copies.owned
        self._sites = {
            site.name: replace(site, tied=tuple(t for t in site.tied if owned(t.path)))
            for site in self._all_sites
            if owned(site.path)
        }
        self._shared_sites = [
            s for site in self._all_sites for s in (site, *site.tied) if not owned(s.path)
        ]

    def discover(self, done: Any, changed: set[str]) -> None:
        """Pair each site with its gradient, seen on ``done`` (a copy after backward); an
        attribute in ``changed`` (its contents forward changed) is a cache."""
        if self._copies.ran_back():  # nodes it ran were the user's: shared from now on
            self._split_sites()
        constants, caches = [], []
        for name, site in self._sites.items():
            if site.kind == "attr" and name in changed:
                caches.append(site.label)
                continue
            if site.kind == "attr":
                partner = site.partner(done)
                if partner is None:
                    constants.append(site.label)
                    continue
                self._partners[name] = partner
            self.grad_names[name] = site.grad_name(self._partners.get(name))
            if site.tied:
                self._tie(name, site, done)
            if self._check_params:
                self.params[name] = site.value(self._copies.base)
        if caches:
            self._notes.append(
                "arrays whose contents forward changes (replaced or filled in place) were taken "
                "as caches, not parameters: " + ", ".join(caches)
            )
        if constants:
            self._notes.append(
                "arrays without a gradient attribute (dP, d_P or grad_P) were taken as constants: "
                + ", ".join(constants)
            )
        self.discovered = True
        self._list_nodes()

    def _list_nodes(self) -> None:
        """The nodes without parameters, and the shared nodes with parameters, that the node
        holds (a shared node is listed, not the nodes it holds)."""
        owned = self._copies.owned
        holding = [self._sites[name].path for name in self.grad_names]
        # a shared node's parameters are not checked, but it has them: a params dict, or an
        # attribute whose gradient partner its backward set (on the user's node itself)
        unchecked = [
            site.path
            for site in self._shared_sites
            if site.kind == "params" or site.partner(self._user) is not None
        ]
        # and the arrays on them that backward set no gradient for: constants, caches, or
        # weights whose gradient backward forgot, which went unsaid (a node of the copy's own
        # says so of its constants)
        unseen = [
            site.label
            for site in self._shared_sites
            if site.kind == "attr" and site.partner(self._user) is None
        ]
        if unseen:
            self._notes.append(
                "arrays on the nodes shared with your object that backward set no gradient "
                "attribute (dP, d_P or grad_P) for were taken as constants or caches, and not "
                "checked: " + ", ".join(unseen)
            )
        listed = [path for path, _ in sub_nodes(self._copies.base) if path and owned(path[:-1])]
        self.parameter_free_paths = [
            path for path in listed if not _holds(path, holding) and not _holds(path, unchecked)
        ]
        self.parameter_free = [spelled(path) for path in self.parameter_free_paths]
        self.shared_with_parameters = [
            spelled(path) for path in listed if not owned(path) and _holds(path, unchecked)
        ]

    def _tie(self, name: str, site: Site, done: Any) -> None:
        """The gradients of an array that other nodes hold or view too (tied weights):
        :mod:`softgrad.gradcheck.ties`."""
        ties = [(tie, None if tie.kind == "params" else tie.partner(done)) for tie in site.tied]
        with_grads = self._ties[name] = with_gradients(ties)
        own = self.grad_names[name]
        self.grad_names[name] = " + ".join([own, *(tie.grad_name(p) for tie, p in with_grads)])
        grad = site.gradient(done, self._partners.get(name))
        self._notes.append(tie_note(site, self.grad_names[name], ties, grad, done))

    def attribute_contents(self, obj: Any) -> dict[str, np.ndarray]:
        """A copy of every attribute array that may be a parameter, by check name (what is no
        longer an array after forward is left out: it changed)."""
        found = {}
        for name, site in self._sites.items():
            value = site.value(obj) if site.kind == "attr" else None
            if isinstance(value, np.ndarray):
                found[name] = value.copy()
        return found

    def gradient(self, done: Any, name: str) -> Any:
        """The gradient of the parameter ``name`` on ``done`` (a copy after backward), its ties'
        summed in."""
        site = self._sites[name]
        grad = site.gradient(done, self._partners.get(name))
        ties = self._ties.get(name, ())
        if not ties or not isinstance(grad, np.ndarray):
            return grad
        return tied_gradient(site, grad, ties, done)[0]


def changed_by_forward(
    before: dict[str, np.ndarray],
    done: dict[str, np.ndarray],
    near: dict[str, np.ndarray] | None,
) -> set[str]:
    """The attribute arrays whose contents forward changed: from ``before`` to ``done`` (after
    forward at x), or from ``done`` to ``near`` (after forward near x)."""
    changed = {k for k, v in before.items() if not _same_contents(done.get(k), v)}
    if near is None:
        return changed
    return changed | {k for k in before if not _same_contents(near.get(k), done.get(k))}


def _holds(path: Path, sites: list[Path]) -> bool:
    """Whether the node at ``path`` holds one of the sites at ``sites`` (its own or a node's
    it holds)."""
    return any(site[: len(path)] == path for site in sites)


def _same_contents(after: Any, before: Any) -> bool:
    """True when ``after`` is a float array of ``before``'s shape holding its values (rounded to
    ``after``'s dtype: a rebinding that casts them keeps them)."""
    if not isinstance(after, np.ndarray) or not isinstance(before, np.ndarray):
        return False
    if after.dtype.kind != "f" or after.shape != before.shape:
        return False
    return bool(np.array_equal(after, before.astype(after.dtype), equal_nan=True))
