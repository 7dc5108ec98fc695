"""Plots of fitted hyperspherical models, in the style of scikit-learn's Displays.

Each Display holds the data it draws; build it with a ``from_estimator`` (or
``from_predictions`` / ``from_embeddings`` / ``from_prototypes`` / ``from_history``)
classmethod, which draws it at once, or construct it and call :meth:`plot`. ``plot``
returns the Display and sets ``ax_``, ``figure_`` and the artists it drew.

- :class:`SphereDisplay`: embeddings on the unit circle (D = 2), on S² (D = 3) or a PCA
  projection (D > 3), coloured by class or by a continuous target, with the class
  prototypes and the regression poles.
- :class:`ReliabilityDisplay`: a top-label reliability diagram with the expected
  calibration error of :func:`hsproto.metrics.expected_calibration_error`.
- :class:`PrototypeGeometryDisplay`: the pairwise angles between prototypes against the
  known limit for (K, D).
- :class:`TrainingCurvesDisplay`: the losses (and learning rate) of ``history_``.

matplotlib is an optional dependency (``pip install "hsproto[plot]"``): this module
imports without it, and the Displays raise an ImportError saying what to install.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .metrics import _column_labels, _equal_mass_bins, expected_calibration_error
from .prototypes.metrics import known_limit, pairwise_cosine_stats

__all__ = ["PrototypeGeometryDisplay", "ReliabilityDisplay", "SphereDisplay",
           "TrainingCurvesDisplay"]

#: At most this many integer values are taken as classes by ``target_type="auto"``.
_MAX_AUTO_CLASSES = 20


def _check_matplotlib(caller):
    """Raise an ImportError naming the extra to install when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f'{caller} needs matplotlib, which is not installed; install it '
                          f'with pip install "hsproto[plot]" (or pip install matplotlib).'
                          ) from exc


def _new_axes(ax, projection=None):
    """``ax`` and its figure; a new figure (constrained layout) when ``ax`` is None."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig = plt.figure(layout="constrained")
        ax = fig.add_subplot(projection=projection)
    return ax, ax.figure


def _final_step(estimator):
    """The last step of a Pipeline (where the fitted attributes live), else the estimator."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else estimator


def _unit_rows(array, name):
    z = np.asarray(array, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (n, n_dims); got shape {z.shape}.")
    if len(z) == 0:
        raise ValueError(f"{name} is empty.")
    if z.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 columns (n_dims >= 2) to be drawn "
                         f"on a sphere; got shape {z.shape}.")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or inf.")
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} contains a zero row, which has no direction.")
    return z / norms


def _is_numeric(values):
    return np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype,
                                                                         np.bool_)


def _resolve_target_type(y, target_type, classes):
    """``"discrete"``, ``"continuous"`` or None (no y) for ``target_type`` "auto"."""
    if target_type not in ("auto", "discrete", "continuous"):
        raise ValueError(f"target_type must be 'auto', 'discrete' or 'continuous'; got "
                         f"{target_type!r}.")
    if y is None:
        return None
    numeric = _is_numeric(y)
    if target_type == "continuous":
        if not numeric:
            raise ValueError(f"target_type='continuous' needs numeric y; got dtype "
                             f"{y.dtype}.")
        return "continuous"
    if target_type == "discrete" or not numeric:
        return "discrete"
    if classes is not None:
        return "discrete"
    integral = np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0)
    if integral and len(np.unique(y)) <= _MAX_AUTO_CLASSES:
        return "discrete"
    return "continuous"


def _class_colours(n, cmap):
    """``n`` distinct colours: tab10 / tab20 by default, sampled from turbo beyond 20."""
    import matplotlib

    if cmap is None:
        cmap = "tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"
    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    listed = getattr(colormap, "colors", None)
    if listed is not None and len(listed) >= n and getattr(colormap, "N", 256) < 256:
        return [matplotlib.colors.to_rgba(c) for c in listed[:n]]
    return [tuple(c) for c in colormap(np.linspace(0, 1, n))]


def _fmt(value):
    return f"{value:.3g}"


class SphereDisplay:
    """Embeddings on the unit hypersphere.

    D = 2: points on the unit circle; D = 3: points on the sphere S² (a 3-d Axes with a
    wireframe sphere); D > 3 (or ``projection="pca"``): a 2-d PCA projection of the
    embeddings (scikit-learn's ``PCA``, fitted on the embeddings; prototypes and poles
    are projected with the same fit). Points are coloured by class (a legend with one
    entry per class) or by a continuous value (a colour bar). Class prototypes are drawn
    as large stars in their class's colour, regression poles as triangles at both ends
    of a dashed axis (▲ upper pole, ▼ lower pole).

    Use :meth:`from_estimator` or :meth:`from_embeddings` to build and draw it.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_dims)
        The embeddings; rows are normalised to unit length.
    y : array-like of shape (n_samples,), default=None
        The values to colour by (class labels or a continuous target); None: one colour.
    target_type : {"auto", "discrete", "continuous"}, default="auto"
        How to colour by ``y``. "auto": discrete for non-numeric labels, when ``classes``
        is given, and for integer values with at most 20 distinct values; continuous
        otherwise.
    classes : array-like, default=None
        The classes of a discrete ``y`` in legend order (e.g. an estimator's
        ``classes_``); None: the sorted unique values of ``y``.
    prototypes : array-like of shape (n_classes, n_dims), default=None
        Class prototypes to draw.
    prototype_labels : array-like of shape (n_classes,), default=None
        The class of each prototype row; a prototype whose class is among the colours of
        a discrete ``y`` is filled with that colour, the others white.
    poles : array-like of shape (n_targets, n_dims), default=None
        Upper regression poles (the lower poles are their negatives).
    pole_labels : list of (str, str), default=None
        Legend labels of each pole's upper and lower end; None: "pole t (+)" and
        "pole t (−)".
    projection : {"auto", "sphere", "pca"}, default="auto"
        "sphere": draw on the circle (D = 2) or on S² (D = 3); "pca": a 2-d PCA
        projection; "auto": "sphere" for D <= 3, "pca" beyond.
    y_label : str, default=None
        Title of the legend or label of the colour bar; None: "class" or "y".
    name : str, default=None
        Name of the model, shown in the title.

    Attributes
    ----------
    projection_ : {"circle", "sphere", "pca"}
        The projection drawn.
    coords_ : ndarray of shape (n_samples, 2) or (n_samples, 3)
        The coordinates of the points as drawn.
    pca_ : sklearn.decomposition.PCA or None
        The PCA fit of a "pca" projection.
    scatter_ : list of matplotlib PathCollection
        The points: one collection per class (discrete ``y``), else one.
    prototype_markers_ : matplotlib PathCollection or None
    pole_lines_ : list of matplotlib Line2D or None
        The dashed axis and the two end markers of each pole.
    legend_ : matplotlib Legend or None
        The class legend (discrete ``y``): one entry per class.
    marker_legend_ : matplotlib Legend or None
        The legend of the prototype and pole markers.
    colorbar_ : matplotlib Colorbar or None
        The colour bar (continuous ``y``); the marker legend then sits below it.
    sphere_ : matplotlib artist or None
        The unit circle (a Circle patch) or the wireframe sphere; None for "pca".
    ax_ : matplotlib Axes (an Axes3D for S²)
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hsproto.plotting import SphereDisplay
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(60, 2))
    >>> P = [[0.0, -1.0], [-0.87, 0.5], [0.87, 0.5]]
    >>> disp = SphereDisplay.from_embeddings(Z, y=np.repeat([0, 1, 2], 20), prototypes=P,
    ...                                      prototype_labels=[0, 1, 2])
    >>> len(disp.legend_.get_texts())
    3
    >>> import matplotlib.pyplot as plt; plt.close(disp.figure_)
    """

    def __init__(self, embeddings, *, y=None, target_type="auto", classes=None,
                 prototypes=None, prototype_labels=None, poles=None, pole_labels=None,
                 projection="auto", y_label=None, name=None):
        self.embeddings = _unit_rows(embeddings, "embeddings")
        n, n_dims = self.embeddings.shape
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise ValueError(f"y must be 1-d (one value per embedding); got shape "
                                 f"{y.shape}.")
            if len(y) != n:
                raise ValueError(f"y has {len(y)} values but there are {n} embeddings.")
        if classes is not None:
            classes = np.asarray(classes)
            if y is not None and not np.all(np.isin(y, classes)):
                raise ValueError("y holds values that are not in classes.")
        self.y = y
        self.target_type = _resolve_target_type(y, target_type, classes)
        self.classes = classes
        self.prototypes = None if prototypes is None else _unit_rows(prototypes, "prototypes")
        self.poles = None if poles is None else _unit_rows(poles, "poles")
        for other, what in ((self.prototypes, "prototypes"), (self.poles, "poles")):
            if other is not None and other.shape[1] != n_dims:
                raise ValueError(f"{what} have {other.shape[1]} dimensions but the "
                                 f"embeddings have {n_dims}.")
        if prototype_labels is not None:
            prototype_labels = np.asarray(prototype_labels)
            if self.prototypes is None or len(prototype_labels) != len(self.prototypes):
                raise ValueError("prototype_labels needs one label per prototype row.")
        self.prototype_labels = prototype_labels
        if pole_labels is not None and (self.poles is None
                                        or len(pole_labels) != len(self.poles)):
            raise ValueError("pole_labels needs one (upper, lower) pair per pole.")
        self.pole_labels = pole_labels
        if projection not in ("auto", "sphere", "pca"):
            raise ValueError(f"projection must be 'auto', 'sphere' or 'pca'; got "
                             f"{projection!r}.")
        if projection == "sphere" and n_dims > 3:
            raise ValueError(f"projection='sphere' draws D = 2 or 3 only; the embeddings "
                             f"have D = {n_dims}. Use projection='pca'.")
        if (projection == "pca" or (projection == "auto" and n_dims > 3)) and n < 2:
            raise ValueError("A PCA projection needs at least 2 embeddings.")
        self.projection = projection
        self.y_label = y_label
        self.name = name

    @property
    def n_dims(self):
        """The dimension D of the embeddings."""
        return self.embeddings.shape[1]

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, target_type="auto",
                       projection="auto", y_label=None, name=None, ax=None, cmap=None,
                       scatter_kwargs=None):
        """Draw the embeddings ``estimator.transform(X)`` of a fitted model.

        Parameters
        ----------
        estimator : fitted estimator
            A hyperspherical estimator (or a Pipeline ending in one) or any fitted
            transformer; its ``prototypes_`` and ``poles_`` are drawn where present.
        X : array-like of shape (n_samples, ...), tensor or torch Dataset
        y : array-like of shape (n_samples,), default=None
            Values to colour by: class labels or a continuous target. For a
            JointEstimator, a 2-d joint target ``[label, targets...]`` colours by its
            labels (pass ``y[:, 1]`` to colour by the first target). None colours by the
            prediction: the predicted class of a classifier or JointEstimator, the
            predicted (first) target of a regressor; other transformers get one colour.
        target_type, projection, y_label, name :
            See :class:`SphereDisplay`; ``name`` defaults to the estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on (an Axes3D, ``projection="3d"``, for D = 3 on the sphere);
            None: a new figure.
        cmap, scatter_kwargs : see :meth:`plot`.

        Returns
        -------
        SphereDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the estimator is not fitted.
        ValueError
            For a y of the wrong length or shape, or an estimator without ``transform``.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        final = _final_step(estimator)
        if final is not estimator:           # a Pipeline: X through the steps before
            X = estimator[:-1].transform(X)
            estimator = final
        if not hasattr(estimator, "transform"):
            raise ValueError(f"{type(estimator).__name__} has no transform method; "
                             f"SphereDisplay needs the embeddings it returns.")
        embeddings = np.asarray(estimator.transform(X))
        classes = getattr(final, "classes_", None)
        joint = hasattr(final, "predict_classes")
        y_label_default = None         # plot's defaults: "class" (legend), "y" (colour bar)
        if y is None:
            if joint:
                y, y_label_default = estimator.predict_classes(X), "predicted class"
            elif classes is not None and hasattr(estimator, "predict"):
                y, y_label_default = estimator.predict(X), "predicted class"
            elif getattr(final, "poles_", None) is not None and hasattr(estimator,
                                                                        "predict"):
                y = np.asarray(estimator.predict(X), dtype=np.float64)
                y = y.reshape(len(y), -1)[:, 0]
                y_label_default = "predicted y"
        else:
            y = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
            if joint and y.ndim == 2 and y.shape[1] >= 2:
                y = y[:, 0]
                if y.dtype == object and not any(isinstance(v, str) for v in y):
                    y = np.asarray(y.tolist())
        if y is not None and np.ndim(y) >= 1 and len(y) != len(embeddings):
            raise ValueError(f"y has {len(y)} values but X has {len(embeddings)} samples.")
        if classes is not None and y is not None:
            y = np.asarray(y)
            if target_type == "continuous" or y.ndim != 1 or not np.all(np.isin(y, classes)):
                classes = None
        prototypes = getattr(final, "prototypes_", None)
        poles = getattr(final, "poles_", None)
        pole_labels = None
        if poles is not None:
            low, high = getattr(final, "y_min_", None), getattr(final, "y_max_", None)
            if low is not None and high is not None and len(low) == len(poles):
                names = ([f"y[{t}]" for t in range(len(poles))] if len(poles) > 1
                         else ["y"])
                pole_labels = [(f"pole: {names[t]} = {_fmt(high[t])}",
                                f"pole: {names[t]} = {_fmt(low[t])}")
                               for t in range(len(poles))]
        display = cls(embeddings, y=y, target_type=target_type, classes=classes,
                      prototypes=prototypes,
                      prototype_labels=None if prototypes is None else
                      getattr(final, "classes_", None),
                      poles=poles, pole_labels=pole_labels, projection=projection,
                      y_label=y_label if y_label is not None else y_label_default,
                      name=name if name is not None else type(final).__name__)
        return display.plot(ax=ax, cmap=cmap, scatter_kwargs=scatter_kwargs)

    @classmethod
    def from_embeddings(cls, embeddings, y=None, prototypes=None, *, target_type="auto",
                        classes=None, prototype_labels=None, poles=None, pole_labels=None,
                        projection="auto", y_label=None, name=None, ax=None, cmap=None,
                        scatter_kwargs=None):
        """Draw precomputed embeddings (unit vectors, e.g. ``transform``'s output).

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_dims)
        y : array-like of shape (n_samples,), default=None
        prototypes : array-like of shape (n_classes, n_dims), default=None
        Other parameters : see :class:`SphereDisplay` and :meth:`plot`.

        Returns
        -------
        SphereDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_embeddings")
        display = cls(embeddings, y=y, target_type=target_type, classes=classes,
                      prototypes=prototypes, prototype_labels=prototype_labels, poles=poles,
                      pole_labels=pole_labels, projection=projection, y_label=y_label,
                      name=name)
        return display.plot(ax=ax, cmap=cmap, scatter_kwargs=scatter_kwargs)

    def _project(self, ax):
        """(coordinate function, kind) for the projection and the axes."""
        is_3d = ax is not None and getattr(ax, "name", "") == "3d"
        kind = self.projection
        if kind == "auto":
            kind = "sphere" if self.n_dims <= 3 else "pca"
        if kind == "sphere" and self.n_dims == 3:
            if ax is not None and not is_3d:
                raise ValueError("D = 3 embeddings are drawn on a 3-d Axes: pass "
                                 "ax=fig.add_subplot(projection='3d'), or "
                                 "projection='pca' for a 2-d Axes.")
            return "sphere"
        if is_3d:
            raise ValueError("This projection is 2-d; pass a 2-d Axes (or none).")
        return "circle" if kind == "sphere" else "pca"

    def plot(self, ax=None, *, cmap=None, scatter_kwargs=None):
        """Draw the embeddings.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on (an Axes3D for D = 3 on the sphere); None: a new figure.
        cmap : str or matplotlib Colormap, default=None
            None: "tab10" (up to 10 classes), "tab20" (up to 20) or colours sampled from
            "turbo" for a discrete y; "viridis" for a continuous one.
        scatter_kwargs : dict, default=None
            Extra arguments of ``ax.scatter`` for the points (e.g. ``{"s": 4}``).

        Returns
        -------
        SphereDisplay
            ``self``, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        from matplotlib.lines import Line2D

        kind = self._project(ax)
        ax, fig = _new_axes(ax, "3d" if kind == "sphere" else None)
        coords, protos, poles, axis_names = self._coordinates(kind)
        self.projection_, self.coords_ = kind, coords
        n = len(coords)
        kwargs = {"s": 16 if n <= 500 else 8 if n <= 5000 else 3, "alpha": 0.8,
                  "linewidths": 0}
        kwargs.update(scatter_kwargs or {})
        self._draw_frame(ax, kind, axis_names)

        self.scatter_, self.legend_, self.colorbar_ = [], None, None
        colour_of = {}
        if self.target_type == "discrete":
            classes = self.classes if self.classes is not None else np.unique(self.y)
            colours = _class_colours(len(classes), cmap)
            for label, colour in zip(classes, colours, strict=True):
                mask = self.y == label
                colour_of[_key(label)] = colour
                self.scatter_.append(ax.scatter(*coords[mask].T, color=[colour],
                                                label=str(label), **kwargs))
            self.legend_ = ax.legend(title=self.y_label or "class", loc="upper left",
                                     bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                                     fontsize="small", title_fontsize="small",
                                     markerscale=max(1.0, 30 / kwargs["s"]) ** 0.5,
                                     ncols=1 + (len(classes) - 1) // 20)
        elif self.target_type == "continuous":
            points = ax.scatter(*coords.T, c=self.y.astype(np.float64),
                                cmap=cmap or "viridis", **kwargs)
            self.scatter_.append(points)
            markers = protos is not None or poles is not None
            # with markers the bar is shorter and their legend goes below it
            self.colorbar_ = fig.colorbar(points, ax=ax, pad=0.08 if kind == "sphere" else 0.02,
                                          shrink=(0.5 if kind == "sphere" else 0.6) if markers
                                          else (0.6 if kind == "sphere" else 0.8),
                                          anchor=(0.0, 1.0) if markers else (0.0, 0.5))
            self.colorbar_.set_label(self.y_label or "y")
        else:
            self.scatter_.append(ax.scatter(*coords.T, color="tab:blue", **kwargs))

        handles = []
        self.prototype_markers_ = None
        if protos is not None:
            labels = self.prototype_labels
            faces = [colour_of.get(_key(labels[i]), "white") if labels is not None
                     else "white" for i in range(len(protos))]
            extra = {"depthshade": False} if kind == "sphere" else {}
            self.prototype_markers_ = ax.scatter(*protos.T, s=260, marker="*", c=faces,
                                                 edgecolors="black", linewidths=1.0,
                                                 zorder=5, **extra)
            handles.append(Line2D([], [], linestyle="none", marker="*", markersize=14,
                                  markerfacecolor="white", markeredgecolor="black",
                                  label="class prototype"))
        self.pole_lines_ = None
        if poles is not None:
            self.pole_lines_ = []
            for t, (upper, lower) in enumerate(poles):
                up_label, low_label = (self.pole_labels[t] if self.pole_labels is not None
                                       else (f"pole {t} (+)", f"pole {t} (−)"))
                self.pole_lines_ += [
                    ax.plot(*np.column_stack([lower, upper]), linestyle="--", color="0.3",
                            linewidth=1.0, zorder=4)[0],
                    ax.plot(*upper[:, None], marker="^", markersize=10, color="black",
                            linestyle="none", zorder=6)[0],
                    ax.plot(*lower[:, None], marker="v", markersize=10, color="black",
                            linestyle="none", zorder=6)[0]]
                handles += [Line2D([], [], linestyle="none", marker="^", markersize=8,
                                   color="black", label=up_label),
                            Line2D([], [], linestyle="none", marker="v", markersize=8,
                                   color="black", label=low_label)]
        self.marker_legend_ = None
        if handles:
            if self.legend_ is not None:
                ax.add_artist(self.legend_)      # kept when the next legend replaces it
            if self.colorbar_ is not None:      # below the colour bar
                self.marker_legend_ = self.colorbar_.ax.legend(
                    handles=handles, fontsize="small", loc="upper left",
                    bbox_to_anchor=(0.0, -0.06), borderaxespad=0.0)
            else:                                # right of the axes, at the bottom
                self.marker_legend_ = ax.legend(
                    handles=handles, fontsize="small", loc="lower left",
                    bbox_to_anchor=(1.02, 0.0), borderaxespad=0.0)

        self.ax_, self.figure_ = ax, fig
        return self

    def _coordinates(self, kind):
        """(points, prototypes, [(upper, lower) per pole], axis names) as drawn."""
        z = self.embeddings
        poles = None
        if kind == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2).fit(z)
            self.pca_ = pca
            project = pca.transform
            ratio = pca.explained_variance_ratio_
            names = [f"PC {i + 1} ({100 * r:.0f}% of variance)" for i, r in enumerate(ratio)]
        else:
            self.pca_ = None
            order = list(range(self.n_dims))
            if kind == "sphere" and self.poles is not None:
                # the first pole's axis drawn vertically
                top = int(np.argmax(np.abs(self.poles[0])))
                order = [i for i in order if i != top] + [top]
            order = np.asarray(order)

            def project(a):
                return a[:, order]

            names = [f"$z_{{{i + 1}}}$" for i in order]
        coords = project(z)
        protos = None if self.prototypes is None else project(self.prototypes)
        if self.poles is not None:
            poles = list(zip(project(self.poles), project(-self.poles), strict=True))
        return coords, protos, poles, names

    def _draw_frame(self, ax, kind, axis_names):
        from matplotlib.patches import Circle

        if kind == "circle":
            self.sphere_ = ax.add_patch(Circle((0, 0), 1.0, fill=False, color="0.6",
                                               linewidth=1.0, zorder=0))
            ax.set_xlim(-1.15, 1.15)
            ax.set_ylim(-1.15, 1.15)
            ax.set_aspect("equal")
            ax.set_xticks([-1, -0.5, 0, 0.5, 1])
            ax.set_yticks([-1, -0.5, 0, 0.5, 1])
            title = f"Embeddings on S¹ (D = {self.n_dims})"
        elif kind == "sphere":
            u, v = np.mgrid[0:2 * np.pi:25j, 0:np.pi:13j]
            self.sphere_ = ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v),
                                             np.cos(v), color="0.6", alpha=0.25,
                                             linewidth=0.5)
            for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                set_lim(-1, 1)
            ax.set_box_aspect((1, 1, 1))
            for set_ticks in (ax.set_xticks, ax.set_yticks, ax.set_zticks):
                set_ticks([-1, 0, 1])
            ax.set_zlabel(axis_names[2])
            title = f"Embeddings on S² (D = {self.n_dims})"
        else:
            self.sphere_ = None
            ax.set_aspect("equal", adjustable="datalim")
            ax.margins(0.08)                     # room for the prototype stars
            title = f"Embeddings (D = {self.n_dims}), PCA to 2-d"
        ax.set_xlabel(axis_names[0])
        ax.set_ylabel(axis_names[1])
        ax.set_title(f"{self.name}: {title[0].lower()}{title[1:]}" if self.name else title,
                     fontsize="medium")


def _key(label):
    """A hashable dictionary key for a class label (numpy scalars as Python values)."""
    return label.item() if isinstance(label, np.generic) else label


def _uniform_bins(confidence, n_bins):
    """Equal-width bin edges over [0, 1] and each sample's bin (the last bin closed)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    return edges, index


def _reliability_bins(confidence, correct, n_bins, strategy):
    """Per-bin mean confidence, accuracy, count and the bin edges.

    "quantile": the bins of :func:`hsproto.metrics.expected_calibration_error` —
    samples sorted by confidence (stable sort) and split by ``np.array_split`` into
    ``min(n_bins, n)`` bins of nearly equal size; the edges lie halfway between
    neighbouring bins. "uniform": ``n_bins`` equal-width bins over [0, 1] (the last one
    closed); empty bins have NaN confidence and accuracy.
    """
    if strategy == "quantile":
        parts = _equal_mass_bins(confidence, n_bins)
        conf = np.array([confidence[p].mean() for p in parts])
        acc = np.array([correct[p].mean() for p in parts])
        counts = np.array([len(p) for p in parts])
        lows = np.array([confidence[p].min() for p in parts])
        highs = np.array([confidence[p].max() for p in parts])
        edges = np.r_[lows[0], (highs[:-1] + lows[1:]) / 2, highs[-1]]
        return conf, acc, counts, edges
    edges, index = _uniform_bins(confidence, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(index, weights=confidence, minlength=n_bins) / counts
        acc = np.bincount(index, weights=correct.astype(np.float64),
                          minlength=n_bins) / counts
    return conf, acc, counts, edges


class ReliabilityDisplay:
    """Reliability diagram: top-label confidence against accuracy per bin.

    Each marker is one bin: its mean confidence (the largest predicted probability) on
    x and the fraction of its samples whose top-label prediction is right on y (marker
    area proportional to the bin's sample count); a calibrated model lies on the
    diagonal. Light bars (right axis) are the histogram of the confidences over
    ``n_bins`` equal-width bins. The legend gives the expected calibration error of
    :func:`hsproto.metrics.expected_calibration_error` (equal-mass bins); with
    ``strategy="quantile"`` (the default) the markers are exactly the metric's bins, so
    the ECE is the count-weighted mean vertical gap between the markers and the
    diagonal.

    Use :meth:`from_estimator` or :meth:`from_predictions` to build and draw it.

    Parameters
    ----------
    prob_pred : ndarray of shape (n_bins,)
        Mean confidence per bin (NaN for an empty bin).
    prob_true : ndarray of shape (n_bins,)
        Accuracy per bin (NaN for an empty bin).
    bin_counts : ndarray of shape (n_bins,)
        Samples per bin.
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin boundaries on the confidence axis (for "quantile" halfway between the
        largest confidence of a bin and the smallest of the next).
    ece : float
        The expected calibration error (equal-mass bins).
    n_bins : int
        The number of bins asked for (the ECE's; "quantile" uses ``min(n_bins,
        n_samples)``).
    strategy : {"quantile", "uniform"}, default="quantile"
    hist_counts : ndarray of shape (n_bins,), default=None
        The confidence histogram over ``n_bins`` equal-width bins of [0, 1]; None draws
        no histogram.
    name : str, default=None
        Name of the model, shown in the title.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The reliability curve; its label (and the legend's first entry) is
        ``"ECE = <ece>"`` with 4 decimals.
    markers_ : matplotlib PathCollection
        The bins' markers.
    diagonal_ : matplotlib Line2D
    bars_ : matplotlib BarContainer or None
        The confidence histogram (drawn on ``ax_``, scaled into its lower third).
    ax_counts_ : matplotlib Axes or None
        The twin axes whose ticks give the histogram's counts.
    legend_ : matplotlib Legend
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from hsproto.plotting import ReliabilityDisplay
    >>> disp = ReliabilityDisplay.from_predictions(
    ...     [0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]], n_bins=2)
    >>> round(disp.ece, 6)
    0.15
    >>> import matplotlib.pyplot as plt; plt.close(disp.figure_)
    """

    def __init__(self, prob_pred, prob_true, bin_counts, bin_edges, *, ece, n_bins,
                 strategy="quantile", hist_counts=None, name=None):
        self.prob_pred = np.asarray(prob_pred, dtype=np.float64)
        self.prob_true = np.asarray(prob_true, dtype=np.float64)
        self.bin_counts = np.asarray(bin_counts)
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)
        self.ece = float(ece)
        self.n_bins = n_bins
        self.strategy = strategy
        self.hist_counts = None if hist_counts is None else np.asarray(hist_counts)
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, X, y, *, n_bins=15, strategy="quantile", name=None,
                       ax=None):
        """Draw the reliability diagram of ``estimator.predict_proba(X)`` against ``y``.

        Parameters
        ----------
        estimator : fitted classifier with ``predict_proba`` and ``classes_``
            (or a Pipeline ending in one).
        X : array-like of shape (n_samples, ...), tensor or torch Dataset
        y : array-like of shape (n_samples,)
            True labels.
        n_bins : int, default=15
        strategy : {"quantile", "uniform"}, default="quantile"
            "quantile": equal-mass bins, the bins of
            :func:`~hsproto.metrics.expected_calibration_error`; "uniform": equal-width
            bins over [0, 1] (the ECE shown is still the equal-mass metric's).
        name : str, default=None
            Shown in the title; None: the estimator's class name.
        ax : matplotlib Axes, default=None

        Returns
        -------
        ReliabilityDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the estimator is not fitted.
        ValueError
            For an estimator without ``predict_proba`` or labels of the wrong length.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if not hasattr(estimator, "predict_proba"):
            raise ValueError(f"{type(estimator).__name__} has no predict_proba; the "
                             f"reliability diagram needs predicted probabilities.")
        final = _final_step(estimator)
        return cls.from_predictions(
            y, estimator.predict_proba(X), labels=getattr(final, "classes_", None),
            n_bins=n_bins, strategy=strategy,
            name=name if name is not None else type(final).__name__, ax=ax)

    @classmethod
    def from_predictions(cls, y_true, y_proba, *, labels=None, n_bins=15,
                         strategy="quantile", name=None, ax=None):
        """Draw the reliability diagram of predicted probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
        y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
            Predicted probabilities; a 1-d array is the positive-class probability of a
            binary problem.
        labels : array-like of shape (n_classes,), default=None
            The class of each column (as in
            :func:`~hsproto.metrics.expected_calibration_error`).
        n_bins, strategy, name, ax : see :meth:`from_estimator`.

        Returns
        -------
        ReliabilityDisplay

        Raises
        ------
        ValueError
            For inputs :func:`~hsproto.metrics.expected_calibration_error` refuses
            (shapes, probabilities outside [0, 1] or not summing to 1, n_bins) or an
            unknown strategy.
        """
        _check_matplotlib(f"{cls.__name__}.from_predictions")
        if strategy not in ("quantile", "uniform"):
            raise ValueError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
        # validates y_true, y_proba, n_bins and labels
        ece = expected_calibration_error(y_true, y_proba, n_bins=n_bins, labels=labels)
        y_true = np.asarray(y_true)
        prob = np.asarray(y_proba, dtype=np.float64)
        if prob.ndim == 1:
            prob = np.column_stack([1.0 - prob, prob])
        columns = _column_labels(y_true, prob.shape[1], labels)
        confidence = prob.max(axis=1)
        correct = columns[prob.argmax(axis=1)] == y_true
        conf, acc, counts, edges = _reliability_bins(confidence, correct, n_bins, strategy)
        hist = np.bincount(_uniform_bins(confidence, n_bins)[1], minlength=n_bins)
        display = cls(conf, acc, counts, edges, ece=ece, n_bins=n_bins, strategy=strategy,
                      hist_counts=hist, name=name)
        return display.plot(ax=ax)

    def plot(self, ax=None, *, name=None):
        """Draw the diagram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            None: a new figure.
        name : str, default=None
            Shown in the title; None: ``self.name``.

        Returns
        -------
        ReliabilityDisplay
            ``self``, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        from matplotlib.lines import Line2D
        from matplotlib.ticker import MaxNLocator

        ax, fig = _new_axes(ax)
        name = name if name is not None else self.name
        self.bars_, self.ax_counts_ = None, None
        handles = []
        if self.hist_counts is not None:
            # the bars live on ax, scaled into its lower third; the twin axis only labels
            # their counts
            edges = np.linspace(0.0, 1.0, len(self.hist_counts) + 1)
            top = max(1, int(self.hist_counts.max()))
            scale = 1.0 / (3.0 * top)
            self.bars_ = ax.bar(edges[:-1], self.hist_counts * scale, width=np.diff(edges),
                                align="edge", color="tab:gray", alpha=0.25,
                                edgecolor="white", linewidth=0.5, zorder=0,
                                label="confidence histogram")
            counts_ax = ax.twinx()
            counts_ax.set_ylim(-0.02 / scale, 1.3 / scale)
            ticks = MaxNLocator(nbins=3, integer=True).tick_values(0, top)
            counts_ax.set_yticks(ticks[(ticks >= 0) & (ticks <= top)])
            counts_ax.set_ylabel("samples", color="0.4", loc="bottom")
            counts_ax.tick_params(axis="y", colors="0.4")
            self.ax_counts_ = counts_ax
        self.diagonal_ = ax.plot([0, 1], [0, 1], linestyle="--", color="0.5",
                                 label="perfectly calibrated")[0]
        filled = self.bin_counts > 0
        label = f"ECE = {self.ece:.4f}"
        if self.strategy != "quantile":
            label += f" ({self.n_bins} equal-mass bins)"
        self.line_ = ax.plot(self.prob_pred[filled], self.prob_true[filled],
                             color="tab:blue", linewidth=1.5, label=label)[0]
        counts = self.bin_counts[filled].astype(np.float64)
        self.markers_ = ax.scatter(self.prob_pred[filled], self.prob_true[filled],
                                   s=8 + 40 * counts / max(1.0, counts.max()),
                                   color="tab:blue", zorder=3)
        handles = [Line2D([], [], color="tab:blue", marker="o", label=label),
                   self.diagonal_] + ([self.bars_] if self.bars_ is not None else [])
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.3)             # a band above accuracy 1 for the legend
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xlabel("confidence (top-label probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Reliability diagram: {name}" if name else "Reliability diagram",
                     fontsize="medium")
        kind = "equal-mass" if self.strategy == "quantile" else "equal-width"
        self.legend_ = ax.legend(handles=handles, loc="upper center", fontsize="small",
                                 ncols=2, borderaxespad=0.3,
                                 title=f"{len(self.bin_counts)} {kind} bins",
                                 title_fontsize="small")
        self.ax_, self.figure_ = ax, fig
        return self


class PrototypeGeometryDisplay:
    """Histogram of the pairwise angles between class prototypes.

    A vertical line marks the smallest pairwise angle of the prototypes and another
    the known limit for (K, D) (:func:`hsproto.known_limit`: the largest achievable
    minimum angle where it is known, else the best known value or a bound); the closer
    the two, the better separated the prototypes.

    Use :meth:`from_estimator` or :meth:`from_prototypes` to build and draw it.

    Parameters
    ----------
    angles : ndarray of shape (n_pairs,)
        Angles in degrees between all distinct pairs of prototypes.
    n_classes, n_dims : int
        K and D.
    min_angle : float
        The smallest angle (degrees), from :func:`hsproto.pairwise_cosine_stats`'s
        ``max``.
    limit_angle : float
        The known limit in degrees: ``degrees(arccos(known_limit(K, D)[0]))``.
    limit_kind : str
        ``"optimal"``, ``"best known"`` or ``"lower bound"`` (of the maximal cosine,
        so an upper bound of the angle).
    name : str, default=None

    Attributes
    ----------
    bars_ : matplotlib BarContainer
    min_line_ : matplotlib Line2D
    limit_line_ : matplotlib Line2D
    legend_ : matplotlib Legend
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from hsproto import make_prototypes
    >>> from hsproto.plotting import PrototypeGeometryDisplay
    >>> disp = PrototypeGeometryDisplay.from_prototypes(make_prototypes("simplex", 4, 3))
    >>> round(disp.limit_angle, 2), round(disp.min_angle, 2)
    (109.47, 109.47)
    >>> import matplotlib.pyplot as plt; plt.close(disp.figure_)
    """

    def __init__(self, angles, *, n_classes, n_dims, min_angle, limit_angle, limit_kind,
                 name=None):
        self.angles = np.asarray(angles, dtype=np.float64)
        self.n_classes = int(n_classes)
        self.n_dims = int(n_dims)
        self.min_angle = float(min_angle)
        self.limit_angle = float(limit_angle)
        self.limit_kind = limit_kind
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, *, bins=30, name=None, ax=None):
        """Draw the angles between the class prototypes ``estimator.prototypes_``.

        Parameters
        ----------
        estimator : fitted hyperspherical classifier or JointEstimator
            (or a Pipeline ending in one).
        bins : int, default=30
        name : str, default=None
            Shown in the title; None: the estimator's class name.
        ax : matplotlib Axes, default=None

        Returns
        -------
        PrototypeGeometryDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the estimator is not fitted.
        ValueError
            When the estimator has no class prototypes (a regressor) or fewer than 2.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        final = _final_step(estimator)
        prototypes = getattr(final, "prototypes_", None)
        if prototypes is None:
            raise ValueError(f"{type(final).__name__} has no class prototypes "
                             f"(prototypes_ is missing or None).")
        return cls.from_prototypes(prototypes, bins=bins, ax=ax,
                                   name=name if name is not None else type(final).__name__)

    @classmethod
    def from_prototypes(cls, prototypes, *, bins=30, name=None, ax=None):
        """Draw the angles between the rows of ``prototypes``.

        Parameters
        ----------
        prototypes : array-like of shape (n_classes, n_dims)
            At least 2 non-zero rows (normalised to unit length).
        bins : int, default=30
            Histogram bins over the drawn angle range.
        name : str, default=None
        ax : matplotlib Axes, default=None

        Returns
        -------
        PrototypeGeometryDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_prototypes")
        p = np.asarray(prototypes, dtype=np.float64)
        stats = pairwise_cosine_stats(p)           # validates: 2-d, >= 2 rows, finite
        k, d = p.shape
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        rows, cols = np.triu_indices(k, 1)
        cosines = np.einsum("ij,ij->i", p[rows], p[cols])
        angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
        limit, kind = known_limit(k, d)
        display = cls(angles, n_classes=k, n_dims=d,
                      min_angle=math.degrees(math.acos(min(1.0, max(-1.0, stats["max"])))),
                      limit_angle=math.degrees(math.acos(limit)), limit_kind=kind, name=name)
        return display.plot(ax=ax, bins=bins)

    def plot(self, ax=None, *, bins=30):
        """Draw the histogram and the two lines.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            None: a new figure.
        bins : int, default=30
            Histogram bins over the drawn angle range.

        Returns
        -------
        PrototypeGeometryDisplay
            ``self``, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 1:
            raise ValueError(f"bins must be an integer >= 1; got {bins!r}.")
        ax, fig = _new_axes(ax)
        low = max(0.0, min(self.angles.min(), self.limit_angle) - 5)
        high = min(180.0, max(self.angles.max(), self.limit_angle) + 5)
        edges = np.linspace(low, high, int(bins) + 1)
        # known_limit's "lower bound" bounds the largest cosine from below: the angle
        # from above
        kind = {"lower bound": "upper bound of the angle"}.get(self.limit_kind,
                                                               self.limit_kind)
        counts, _ = np.histogram(self.angles, bins=edges)
        self.bars_ = ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
                            color="tab:blue", alpha=0.7, label="prototype pairs")
        self.limit_line_ = ax.axvline(self.limit_angle, color="tab:red", linewidth=2.0,
                                      label=f"known limit ({kind}): "
                                            f"{self.limit_angle:.2f}°")
        self.min_line_ = ax.axvline(self.min_angle, color="black", linestyle="--",
                                    linewidth=1.5,
                                    label=f"minimum angle: {self.min_angle:.2f}°")
        ax.set_xlim(low, high)
        ax.set_xlabel("angle between prototypes (degrees)")
        ax.set_ylabel("prototype pairs")
        title = f"Prototype angles (K = {self.n_classes}, D = {self.n_dims})"
        ax.set_title(f"{self.name}: {title[0].lower()}{title[1:]}" if self.name else title,
                     fontsize="medium")
        ax.set_ylim(0, max(1, counts.max()) * 1.3)      # room for the legend
        self.legend_ = ax.legend(loc="best", fontsize="small")
        self.ax_, self.figure_ = ax, fig
        return self


class TrainingCurvesDisplay:
    """Training curves of a fitted model: losses per epoch, and the learning rate.

    Use :meth:`from_estimator` or :meth:`from_history` to build and draw it.

    Parameters
    ----------
    epochs : ndarray of shape (n_epochs,)
    curves : dict of str to ndarray of shape (n_epochs,)
        The values of each history key per epoch (NaN where an epoch lacks the key).
    lr : ndarray of shape (n_epochs,), default=None
        The learning rate per epoch, drawn on a second y axis.
    name : str, default=None

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        One line per curve.
    lr_line_ : matplotlib Line2D or None
    ax_lr_ : matplotlib Axes or None
        The second y axis of the learning rate.
    legend_ : matplotlib Legend
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from hsproto.plotting import TrainingCurvesDisplay
    >>> history = [{"epoch": e, "train_loss": 1 / e, "lr": 0.01} for e in range(1, 6)]
    >>> disp = TrainingCurvesDisplay.from_history(history)
    >>> sorted(disp.lines_), disp.ax_lr_ is not None
    (['train_loss'], True)
    >>> import matplotlib.pyplot as plt; plt.close(disp.figure_)
    """

    def __init__(self, epochs, curves, *, lr=None, name=None):
        self.epochs = np.asarray(epochs)
        self.curves = {key: np.asarray(value, dtype=np.float64)
                       for key, value in curves.items()}
        self.lr = None if lr is None else np.asarray(lr, dtype=np.float64)
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, keys=None, *, show_lr="auto", name=None, ax=None):
        """Draw the curves of a fitted model's ``history_``.

        Parameters
        ----------
        estimator : fitted estimator with a skorch ``history_`` (or a Pipeline ending
            in one).
        keys : str or list of str, default=None
            History keys to draw against the epoch; None: ``"train_loss"`` and, when
            recorded (``early_stopping=True``), ``"valid_loss"``.
        show_lr : bool or "auto", default="auto"
            Draw ``"lr"`` on a second y axis; "auto": when the history records it (and
            it is not among ``keys``).
        name : str, default=None
            Shown in the title; None: the estimator's class name.
        ax : matplotlib Axes, default=None

        Returns
        -------
        TrainingCurvesDisplay

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the estimator is not fitted.
        ValueError
            For a key the history does not record.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        final = _final_step(estimator)
        history = getattr(final, "history_", None)
        if history is None:
            raise ValueError(f"{type(final).__name__} has no history_.")
        return cls.from_history(history, keys, show_lr=show_lr, ax=ax,
                                name=name if name is not None else type(final).__name__)

    @classmethod
    def from_history(cls, history, keys=None, *, show_lr="auto", name=None, ax=None):
        """Draw curves from a skorch History (or any sequence of per-epoch dicts).

        Parameters
        ----------
        history : skorch.History or sequence of dict
        keys, show_lr, name, ax : see :meth:`from_estimator`.

        Returns
        -------
        TrainingCurvesDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_history")
        rows = list(history)
        if not rows or not all(isinstance(row, dict) for row in rows):
            raise ValueError("history must be a non-empty sequence of per-epoch dicts "
                             "(a skorch History).")
        recorded = {key for row in rows for key in row}
        if keys is None:
            keys = [key for key in ("train_loss", "valid_loss") if key in recorded]
            if not keys:
                raise ValueError(f"The history records no train_loss; pass keys= from "
                                 f"{sorted(recorded)}.")
        elif isinstance(keys, str):
            keys = [keys]
        keys = list(keys)
        if not keys:
            raise ValueError("keys is empty.")
        missing = [key for key in keys if key not in recorded]
        if missing:
            raise ValueError(f"The history does not record {missing}; it records "
                             f"{sorted(recorded)}.")
        if show_lr not in ("auto", True, False):
            raise ValueError(f"show_lr must be True, False or 'auto'; got {show_lr!r}.")
        if show_lr is True and "lr" not in recorded:
            raise ValueError("show_lr=True but the history records no 'lr'.")
        draw_lr = "lr" in recorded and "lr" not in keys if show_lr == "auto" else show_lr
        epochs = np.asarray([row.get("epoch", i + 1) for i, row in enumerate(rows)])
        curves = {key: _column(rows, key) for key in keys}
        lr = _column(rows, "lr") if draw_lr else None
        return cls(epochs, curves, lr=lr, name=name).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            None: a new figure.

        Returns
        -------
        TrainingCurvesDisplay
            ``self``, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        ax, fig = _new_axes(ax)
        marker = "o" if len(self.epochs) <= 30 else None
        self.lines_ = {key: ax.plot(self.epochs, values, marker=marker, markersize=3,
                                    label=key)[0]
                       for key, values in self.curves.items()}
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if all("loss" in key for key in self.curves) else "value")
        handles = list(self.lines_.values())
        self.lr_line_, self.ax_lr_ = None, None
        if self.lr is not None:
            self.ax_lr_ = ax.twinx()
            self.lr_line_ = self.ax_lr_.plot(self.epochs, self.lr, color="0.4",
                                             linestyle=":", label="learning rate")[0]
            finite = self.lr[np.isfinite(self.lr)]
            if len(finite) and finite.max() > 0:
                # from 0 (also for a constant rate), with headroom for the legend
                self.ax_lr_.set_ylim(0, 1.4 * finite.max())
            ax.set_zorder(self.ax_lr_.get_zorder() + 1)    # the legend above the lr line
            ax.patch.set_visible(False)
            self.ax_lr_.set_ylabel("learning rate", color="0.4")
            self.ax_lr_.tick_params(axis="y", colors="0.4")
            handles.append(self.lr_line_)
        self.legend_ = ax.legend(handles=handles, loc="best", fontsize="small")
        title = "Training curves"
        ax.set_title(f"{self.name}: {title.lower()}" if self.name else title,
                     fontsize="medium")
        self.ax_, self.figure_ = ax, fig
        return self


def _column(rows, key):
    values = []
    for row in rows:
        value = row.get(key)
        try:
            values.append(np.nan if value is None else float(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"History key {key!r} holds non-numeric values "
                             f"({value!r}).") from exc
    return np.asarray(values)
