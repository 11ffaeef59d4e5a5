"""The chemistry, independent of any method: ligands, complexes, geometry, QC and the energy formulas."""
