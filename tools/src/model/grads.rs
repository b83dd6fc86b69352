//! A check for training code: which parameters a backward pass left without a gradient.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// The dotted names of the parameters of `module` that `grads` gives no gradient, or an
/// all-zero one: a parameter meant to train that nothing reaches.
pub fn params_without_grad<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &B::Gradients,
) -> Vec<String> {
    struct Check<'a, B: AutodiffBackend> {
        grads: &'a B::Gradients,
        path: Vec<String>,
        missing: Vec<String>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Check<'_, B> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let reached = param
                .val()
                .grad(self.grads)
                .is_some_and(|g| g.abs().sum().into_scalar().elem::<f64>() > 0.0);
            if !reached {
                self.missing.push(self.path.join("."));
            }
        }
    }
    let mut check = Check::<B> {
        grads,
        path: Vec::new(),
        missing: Vec::new(),
    };
    module.visit(&mut check);
    check.missing
}
