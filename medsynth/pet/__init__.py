"""The PET end point of ``mr_to_ct``: the error that attenuation correction with a
synthetic CT causes in a reconstructed FDG-like PET image (Burgos et al., IEEE TMI
2014; Ladefoged et al., NeuroImage 2017).

One module per step: :mod:`attenuation` (CT → μ at 511 keV), :mod:`activity`
(tracer uptake from tissue labels), :mod:`projector` (2D parallel-beam
projector, exact adjoint pair), :mod:`recon` (simulation and OSEM),
:mod:`error` (Ladefoged-style relative-error metrics) and :mod:`endpoint`
(the reference of one subject, and the metrics of one synthetic CT).
"""
